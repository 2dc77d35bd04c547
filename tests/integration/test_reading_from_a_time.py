"""Reading from a point in time misses nothing that lands after the start is looked up.

``watch``, ``wait`` and the gateway's view look up where to start (``offsets_at``), then
read. A partition with nothing since that time used to start at "the end" resolved later,
when the consumer began fetching: what landed in between was skipped. One CI run's ``watch``
saw the sink's status event but never its completed event, so it timed out.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from diffstream.settings import Settings
from producers.client.topic_lookup import offsets_at
from producers.operations.topic_window import reader

pytestmark = pytest.mark.integration


@contextmanager
def _reader(settings: Settings) -> Iterator[Consumer]:
    consumer = reader(settings)
    try:
        yield consumer
    finally:
        consumer.close()


def _open_transaction(settings: Settings, topic: str, value: bytes) -> Producer:
    producer = Producer(settings.kafka_config({"transactional.id": f"test-{uuid.uuid4()}"}))
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, value)
    producer.flush(30)
    return producer


def _read_once_settled(consumer: Consumer, starts: list[TopicPartition]) -> list[bytes]:
    """What ``consumer`` reads from ``starts`` once the one partition's stable end has passed
    the record and its commit marker: a commit returns before its markers are written, and
    a reader resolving "the end" before that would still see the record."""
    topic = starts[0].topic
    for _ in range(100):
        if consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1] >= 2:
            break
        time.sleep(0.1)
    consumer.assign(starts)
    values: list[bytes] = []
    for _ in range(40):
        values += [m.value() or b"" for m in consumer.consume(10, timeout=0.5) if not m.error()]
        if values:
            break
    return values


def test_a_record_that_lands_after_the_look_up_is_read(
    settings: Settings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=1)
    with _reader(settings) as reader:
        starts = offsets_at(reader, [topic], datetime.now(UTC), timeout_s=30)
        _open_transaction(settings, topic, b"landed meanwhile").commit_transaction(30)
        assert _read_once_settled(reader, starts) == [b"landed meanwhile"]


def test_a_transaction_open_at_the_look_up_is_read_once_committed(
    settings: Settings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=1)
    producer = _open_transaction(settings, topic, b"open at the look-up")
    with _reader(settings) as reader:
        starts = offsets_at(reader, [topic], datetime.now(UTC), timeout_s=30)
        producer.commit_transaction(30)
        assert _read_once_settled(reader, starts) == [b"open at the look-up"]
