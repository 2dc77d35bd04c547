"""The operator tools of the producers role: backfill, replay, offset resets, DLQ redrive.

Each reads or rewrites a bounded window of a topic and reports what it did; they build on
``producers.client`` (publishing, topic look-ups) and are driven by ``producers.cli``.
"""
