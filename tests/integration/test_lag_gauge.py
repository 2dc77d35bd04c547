"""The processor's lag gauge agrees with its group's committed lag once a backlog drains,
also for a processor that joins after the drain and reads nothing: its partitions have a
high watermark (from its fetches) but no position, and were counted from 0, so a second
`diffstream run` reported the first one's requests as lag for ever (the issue's 7)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from confluent_kafka import TopicPartition
from prometheus_client import CollectorRegistry

from diffstream.kafka import make_consumer
from diffstream.settings import Settings
from processors.engine.engine import InferenceEngine
from processors.worker import StreamProcessor
from schemas.builders import new_request
from schemas.topics import REQUESTS, RESULTS
from tests.integration.isolation import SMALL, isolate
from tests.integration.sinks_support import read_committed, wait_for
from tests.integration.test_processor import publish
from tests.integration.threads import on_threads

pytestmark = pytest.mark.integration

BACKLOG = 12


@contextmanager
def running(settings: Settings, engine: InferenceEngine) -> Iterator[CollectorRegistry]:
    registry = CollectorRegistry()
    processor = StreamProcessor(settings, engine, registry=registry)
    with on_threads(processor.run):
        yield registry


def committed_lag(settings: Settings) -> int:
    """What `kafka-consumer-groups --describe` shows: log end less committed, summed."""
    topic = settings.topic(REQUESTS)
    consumer = make_consumer(settings, {"group.id": settings.processor.group_id})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        lag = 0
        for tp in consumer.committed([TopicPartition(topic, p) for p in partitions], 10):
            _, high = consumer.get_watermark_offsets(tp, timeout=10)
            lag += high - max(tp.offset, 0)
        return lag
    finally:
        consumer.close()


def gauge(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("diffstream_processor_consumer_lag", {"lane": "interactive"})


def test_lag_gauge_reaches_zero_with_the_committed_lag(
    settings: Settings, engine: InferenceEngine
) -> None:
    own = isolate(settings)
    publish(own, [new_request(f"lag {i}", seed=i, **SMALL) for i in range(BACKLOG)])
    with running(own, engine) as registry:
        read_committed(own, RESULTS, expected=BACKLOG, timeout_s=120, settle_s=0)
        wait_for(lambda: committed_lag(own) == 0, 30, "the group's committed lag to be 0")
        drained = time.monotonic()
        wait_for(lambda: gauge(registry) == 0, 5, "the gauge to read 0 (the group's lag)")
        print(f"gauge 0 after {time.monotonic() - drained:.2f}s")
    # A processor that joins now reads nothing: its idle partitions are counted from the
    # committed offsets, not from the start of the log.
    with running(own, engine) as registry:
        wait_for(lambda: gauge(registry) is not None, 60, "the second processor's gauge")
        # Long enough for its fetches to bring the watermarks (several fetch waits).
        seen: set[float | None] = set()
        until = time.monotonic() + 8.0
        while time.monotonic() < until:
            seen.add(gauge(registry))
            time.sleep(0.5)
        assert seen == {0}, f"lag read {seen} while the group's is 0"
