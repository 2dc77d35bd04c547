"""A processor drains a backlog spread over partitions across all of them, in about the
order it arrived, rather than one partition's whole backlog after another's.

librdkafka fills its queue from fetch responses partition by partition, up to
``max.partition.fetch.bytes`` each (1 MB by default: a whole burst of one partition). So
requests of the partition fetched last waited for every other partition's backlog first:
in a burst diffstream's p50 matched the peers' and its p99 did not.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Message, TopicPartition

from diffstream.kafka import make_consumer, make_producer
from diffstream.settings import Settings
from processors.lanes import REQUEST_FETCH
from schemas.builders import new_request
from schemas.codec import Codec
from schemas.events import EventName

pytestmark = pytest.mark.integration

PARTITIONS = 12
ROUNDS = 40
BATCH = 8


def _backlog(settings: Settings, topic: str) -> None:
    """``ROUNDS`` requests per partition, arriving one per partition in turn (each its own
    record batch, as from a gateway under load)."""
    codec = Codec(settings)
    producer = make_producer(settings, {"enable.idempotence": True, "acks": "all"})
    for _ in range(ROUNDS):
        for partition in range(PARTITIONS):
            record = new_request("a lighthouse at dusk", seed=7)
            value = codec.encode(EventName.REQUEST, record)
            producer.produce(topic, value, str(record["request_id"]).encode(), partition=partition)
        assert producer.flush(30) == 0


def _first_read(consumer: Consumer, topic: str, count: int) -> list[Message]:
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    read: list[Message] = []
    for _ in range(60):
        read += [m for m in consumer.consume(count - len(read), timeout=0.5) if not m.error()]
        if len(read) >= count:
            break
    return read


def test_a_backlog_over_twelve_partitions_is_read_across_all_of_them(
    settings: Settings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=PARTITIONS)
    _backlog(settings, topic)
    consumer = make_consumer(
        settings,
        {
            "group.id": f"test-order-{uuid.uuid4()}",
            "isolation.level": "read_committed",
            **REQUEST_FETCH,
        },
    )
    try:
        first = _first_read(consumer, topic, 2 * PARTITIONS * BATCH)
    finally:
        consumer.close()
    # 16 rounds' worth: no partition has more than twice its 16, and none has none.
    counts = {p: sum(1 for m in first if m.partition() == p) for p in range(PARTITIONS)}
    assert len(first) == 2 * PARTITIONS * BATCH
    assert max(counts.values()) <= 4 * BATCH, counts
    assert min(counts.values()) > 0, counts
