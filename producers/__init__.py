"""Producers: the publish API, the publish CLI, backfill, replay and DLQ redrive."""
