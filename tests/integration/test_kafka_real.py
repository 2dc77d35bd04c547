"""The broker is real: consumer groups, transactions and compaction behave as Kafka's do."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Message, Producer
from confluent_kafka.admin import AdminClient

from diffstream.settings import Settings
from infra.topic_provisioning import set_topic_config

pytestmark = pytest.mark.integration

TopicFactory = Callable[..., str]


def _produce(settings: Settings, topic: str, count: int) -> set[bytes]:
    producer = Producer(settings.kafka_config({"enable.idempotence": True, "acks": "all"}))
    values = {f"event-{i}".encode() for i in range(count)}
    for value in values:
        producer.produce(topic, value, key=value)
    assert producer.flush(30) == 0
    return values


def test_confluent_consumer_group_of_two_splits_partitions(
    settings: Settings, new_topic: TopicFactory
) -> None:
    topic = new_topic(partitions=4)
    sent = _produce(settings, topic, 200)
    group = f"group-{uuid.uuid4().hex[:8]}"
    received: dict[int, list[Message]] = {0: [], 1: []}
    assigned: dict[int, set[int]] = {0: set(), 1: set()}
    stop = threading.Event()

    def member(index: int) -> None:
        consumer = Consumer(
            settings.kafka_config(
                {
                    "group.id": group,
                    "auto.offset.reset": "earliest",
                    "partition.assignment.strategy": "cooperative-sticky",
                }
            )
        )
        consumer.subscribe([topic])
        try:
            while not stop.is_set():
                message = consumer.poll(0.2)
                assigned[index] = {tp.partition for tp in consumer.assignment()}
                if message is not None and message.error() is None:
                    received[index].append(message)
        finally:
            consumer.close()

    threads = [threading.Thread(target=member, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        total = len(received[0]) + len(received[1])
        if total >= len(sent) and all(assigned.values()):
            break
        time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join(30)

    values = [m.value() for m in received[0] + received[1]]
    assert set(values) == sent
    assert len(values) == len(sent), "an event was delivered twice"
    assert assigned[0], "the first member should own partitions"
    assert assigned[1], "the second member should own partitions"
    assert not assigned[0] & assigned[1]
    partitions_read = [{m.partition() for m in received[i]} for i in (0, 1)]
    assert not partitions_read[0] & partitions_read[1]


def test_aiokafka_consumer_group_of_two(settings: Settings, new_topic: TopicFactory) -> None:
    topic = new_topic(partitions=4)

    async def scenario() -> tuple[list[bytes], list[set[int]]]:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for i in range(100):
                await producer.send(topic, f"async-{i}".encode(), key=str(i).encode())
            await producer.flush()
        finally:
            await producer.stop()

        group = f"aio-{uuid.uuid4().hex[:8]}"
        members = [
            AIOKafkaConsumer(
                topic,
                bootstrap_servers=settings.kafka_bootstrap,
                group_id=group,
                auto_offset_reset="earliest",
            )
            for _ in range(2)
        ]
        for consumer in members:
            await consumer.start()
        values: list[bytes] = []
        owned: list[set[int]] = [set(), set()]
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and (len(values) < 100 or not all(owned)):
                for index, consumer in enumerate(members):
                    batches = await consumer.getmany(timeout_ms=200)
                    owned[index] = {tp.partition for tp in consumer.assignment()}
                    for records in batches.values():
                        values.extend(record.value for record in records if record.value)
        finally:
            for consumer in members:
                await consumer.stop()
        return values, owned

    values, owned = asyncio.run(scenario())
    assert sorted(values) == sorted(f"async-{i}".encode() for i in range(100))
    assert owned[0]
    assert owned[1]
    assert not owned[0] & owned[1]


def _read_all(settings: Settings, topic: str, isolation: str, expected: int) -> list[bytes]:
    config = {"group.id": f"reader-{uuid.uuid4().hex[:8]}", "isolation.level": isolation}
    messages = _read_to_end(settings, topic, config, expected=expected, timeout_s=30)
    return [message.value() or b"" for message in messages]


def _read_to_end(
    settings: Settings, topic: str, config: dict[str, Any], *, expected: int, timeout_s: float
) -> list[Message]:
    """The records of ``topic`` from the earliest, until the end of a partition is reached
    with at least ``expected`` of them read (or ``timeout_s`` has passed)."""
    consumer = Consumer(
        settings.kafka_config(
            {"auto.offset.reset": "earliest", "enable.partition.eof": True, **config}
        )
    )
    consumer.subscribe([topic])
    found: list[Message] = []
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error() is not None:
                if len(found) >= expected:
                    break  # end of partition and everything expected has arrived
                continue
            found.append(message)
    finally:
        consumer.close()
    return found


def test_aborted_transaction_is_invisible_to_read_committed(
    settings: Settings, new_topic: TopicFactory
) -> None:
    topic = new_topic()
    producer = Producer(settings.kafka_config({"transactional.id": f"tx-{uuid.uuid4()}"}))
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(3):
        producer.produce(topic, f"aborted-{i}".encode())
    producer.flush(30)
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, b"committed")
    producer.commit_transaction(30)

    assert _read_all(settings, topic, "read_committed", 1) == [b"committed"]
    # The aborted records are in the log: a read_uncommitted reader sees them.
    uncommitted = _read_all(settings, topic, "read_uncommitted", 4)
    assert sorted(uncommitted) == [b"aborted-0", b"aborted-1", b"aborted-2", b"committed"]


def test_compaction_keeps_latest_value_per_key(settings: Settings, new_topic: TopicFactory) -> None:
    topic = new_topic()
    producer = Producer(settings.kafka_config({"linger.ms": 0}))
    for version in range(3):
        for key in ("a", "b", "c"):
            producer.produce(topic, f"{key}{version}".encode(), key=key.encode())
        producer.flush(30)

    admin = AdminClient(settings.kafka_config())
    compact = {
        "cleanup.policy": "compact",
        "segment.ms": "100",
        "min.cleanable.dirty.ratio": "0.01",
        "max.compaction.lag.ms": "100",
    }
    set_topic_config(admin, topic, compact, 30)

    latest: dict[bytes, bytes] = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        time.sleep(1.5)
        # The active segment is never cleaned: a new record rolls the old one (segment.ms).
        producer.produce(topic, b"roll", key=b"roll")
        producer.flush(30)
        records = _read_keyed(settings, topic)
        kept = [(k, v) for k, v in records if k != b"roll"]
        if len(kept) == 3:
            latest = dict(kept)
            break
    assert latest == {b"a": b"a2", b"b": b"b2", b"c": b"c2"}


def _read_keyed(settings: Settings, topic: str) -> list[tuple[bytes, bytes]]:
    config = {"group.id": f"compaction-{uuid.uuid4().hex[:8]}"}
    # expected=0: stop at the first end of partition reached.
    messages = _read_to_end(settings, topic, config, expected=0, timeout_s=20)
    return [(message.key() or b"", message.value() or b"") for message in messages]
