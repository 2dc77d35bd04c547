"""Reading from a point in time misses nothing that lands after the start is looked up.

``watch``, ``wait`` and the gateway's view look up where to start (``offsets_at``), then
read. A partition with nothing since that time used to start at "the end" resolved later,
when the consumer began fetching: what landed in between was skipped. One CI run's ``watch``
saw the sink's status event but never its completed event, so it timed out.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from diffstream.kafka import make_consumer
from diffstream.settings import Settings
from producers.client.topic_lookup import offsets_at

pytestmark = pytest.mark.integration


def _reader(settings: Settings) -> Consumer:
    return make_consumer(
        settings,
        {
            "group.id": f"test-reader-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        },
    )


def _transactional(settings: Settings) -> Producer:
    producer = Producer(settings.kafka_config({"transactional.id": f"test-{uuid.uuid4()}"}))
    producer.init_transactions(30)
    return producer


def _settle(consumer: Consumer, topic: str, end: int) -> None:
    """Wait until the partition's stable end has passed ``end``: a commit returns before its
    markers are written, and a reader resolving "the end" earlier would still see it."""
    for _ in range(100):
        if consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1] >= end:
            return
        time.sleep(0.1)
    raise AssertionError(f"{topic}[0] never reached offset {end}")


def _read_values(consumer: Consumer, want: int) -> list[bytes]:
    values: list[bytes] = []
    for _ in range(40):
        for message in consumer.consume(10, timeout=0.5):
            if message.error() is None:
                values.append(message.value() or b"")
        if len(values) >= want:
            break
    return values


def test_a_record_that_lands_after_the_look_up_is_read(
    settings: Settings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=1)
    reader = _reader(settings)
    try:
        starts = offsets_at(reader, [topic], datetime.now(UTC), timeout_s=30)
        producer = _transactional(settings)
        producer.begin_transaction()
        producer.produce(topic, b"landed meanwhile")
        producer.commit_transaction(30)
        _settle(reader, topic, 2)  # the record and its commit marker
        reader.assign(starts)
        assert _read_values(reader, 1) == [b"landed meanwhile"]
    finally:
        reader.close()


def test_a_transaction_open_at_the_look_up_is_read_once_committed(
    settings: Settings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=1)
    producer = _transactional(settings)
    producer.begin_transaction()
    producer.produce(topic, b"open at the look-up")
    producer.flush(30)
    reader = _reader(settings)
    try:
        starts = offsets_at(reader, [topic], datetime.now(UTC), timeout_s=30)
        producer.commit_transaction(30)
        _settle(reader, topic, 2)  # the record and its commit marker
        reader.assign(starts)
        assert _read_values(reader, 1) == [b"open at the look-up"]
    finally:
        reader.close()
