"""Helpers of the sinks' integration tests: isolated settings, results to publish, readers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from diffstream.kafka import make_producer
from diffstream.settings import Settings
from schemas.builders import (
    generated_image,
    new_request,
    new_result,
    source_coordinates,
    timings,
)
from schemas.codec import Codec
from schemas.events import EventName
from schemas.examples import TINY_PNG
from schemas.topics import RESULTS
from sinks.notify import Notifier
from tests.integration.isolation import SECRET, isolate
from tests.integration.producing import decode_all, read_all
from tests.integration.threads import on_threads

__all__ = ["SECRET", "isolate"]


def result_record(index: int = 0, **request: Any) -> dict[str, Any]:
    """A GenerationResult with one tiny PNG, as a processor would write it."""
    req = new_request(f"sink test {index}", seed=index, width=64, height=64, steps=2, **request)
    image = generated_image(
        index=0, data=TINY_PNG, content_type="image/png", width=1, height=1, seed=index
    )
    return new_result(
        req,
        attempt=1,
        model="tiny-sd",
        revision=None,
        images=[image],
        timings=timings(queued_s=0.01, inference_s=0.1),
        source=source_coordinates("diffusion.requests", 0, index),
    )


def publish(
    settings: Settings, topic: str, event: EventName, records: list[dict[str, Any]]
) -> None:
    """Produce ``records`` (keyed by request_id) and wait until they are acknowledged."""
    codec = Codec(settings)
    producer = make_producer(settings, {"enable.idempotence": True, "acks": "all"})
    for record in records:
        producer.produce(
            settings.topic(topic), codec.encode(event, record), str(record["request_id"]).encode()
        )
    assert producer.flush(30) == 0


def publish_results(settings: Settings, records: list[dict[str, Any]]) -> None:
    """Publish GenerationResults to the results topic."""
    publish(settings, RESULTS, EventName.RESULT, records)


def read_committed(
    settings: Settings, topic: str, expected: int, timeout_s: float = 60, settle_s: float = 2.0
) -> list[dict[str, Any]]:
    """Every event of ``topic`` a read_committed reader sees once ``expected`` arrived (and
    ``settle_s`` longer, so that a duplicate would be seen too), decoded."""
    messages = read_all(settings, topic, expected=expected, timeout_s=timeout_s, settle_s=settle_s)
    return decode_all(settings, messages)


@contextmanager
def running_notifier(settings: Settings) -> Iterator[Notifier]:
    """A notifier on a thread of its own, stopped (and checked to be) afterwards."""
    notifier = Notifier(settings)
    with on_threads(notifier.run, join_s=30) as (thread,):
        yield notifier
    assert not thread.is_alive()


def wait_for(condition: Any, timeout_s: float = 30.0, what: str = "condition") -> None:
    """Poll ``condition()`` until it is true, or fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
