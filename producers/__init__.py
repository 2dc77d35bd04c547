"""Producers: the client API (``producers.client``: publish, wait, subscribe), the operator
tools (``producers.operations``: backfill, replay, offsets, DLQ redrive) and their commands."""
