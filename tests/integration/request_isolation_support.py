"""Roles on threads for the short isolation tests, and how their outcomes are checked."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from diffstream.s3 import make_s3_client
from diffstream.settings import Settings
from infra.chaos.outcomes import OutcomeReader, Terminal
from infra.chaos.verdict import Expect, tally
from processors.engine.engine import InferenceEngine
from processors.worker import StreamProcessor
from sinks.images import ImageSink
from tests.integration.threads import on_threads


@contextmanager
def processor_and_sink(settings: Settings, engine: InferenceEngine) -> Iterator[None]:
    """A stream processor and an image sink, each on its own thread, for the block."""
    with on_threads(StreamProcessor(settings, engine).run, ImageSink(settings).run):
        yield


def describe(outcomes: Mapping[str, list[Terminal]], request_id: str) -> str:
    """One request's outcomes, for an assertion message."""
    events = outcomes.get(request_id, [])
    return f"{request_id}: " + (
        "; ".join(f"{e.kind} {e.error_code or ''} {e.message[:120]}".strip() for e in events)
        or "no outcome"
    )


def assert_outcomes(reader: OutcomeReader, expected: Mapping[str, Expect]) -> None:
    """Every request ended exactly as expected: nothing lost, doubled or wrong."""
    outcomes = {request_id: reader.of(request_id) for request_id in expected}
    counts = tally(expected, outcomes)
    problems = [
        f"{what}: " + ", ".join(describe(outcomes, r) for r in ids)
        for what, ids in (
            ("lost", counts.lost),
            ("more than one terminal event", counts.duplicated),
            ("wrong outcome", counts.wrong),
        )
        if ids
    ]
    assert not problems, "\n".join(problems)


def stored_objects(settings: Settings) -> list[str]:
    """Every object key in the test's bucket."""
    client = make_s3_client(settings)
    return [o.object_name or "" for o in client.list_objects(settings.s3_bucket, recursive=True)]
