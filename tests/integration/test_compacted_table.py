"""A compacted topic read as a table, through the real broker: a sync is answered within
about one poll, whatever the table's fetch wait and whatever transactions are open."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Message, Producer

from diffstream.settings import Settings
from diffstream.tables import CompactedTable

PARTITIONS = 12


class Rows:
    """What the table applied, by value."""

    def __init__(self) -> None:
        self.values: list[bytes] = []
        self.lock = threading.Lock()

    def apply(self, message: Message) -> None:
        with self.lock:
            self.values.append(message.value() or b"")


@pytest.fixture
def transactional(settings: Settings) -> Iterator[Callable[[], Producer]]:
    made: list[Producer] = []

    def make() -> Producer:
        producer = Producer(settings.kafka_config({"transactional.id": f"t-{uuid.uuid4()}"}))
        producer.init_transactions(30)
        made.append(producer)
        return producer

    yield make
    for producer in made:
        producer.flush(5)


def committed_rows(producer: Producer, topic: str, values: list[bytes]) -> None:
    producer.begin_transaction()
    for n, value in enumerate(values):
        producer.produce(topic, value, partition=n % PARTITIONS)
    producer.commit_transaction(30)


def test_a_sync_is_not_held_back_by_the_fetch_wait(
    settings: Settings, new_topic: Callable[..., str], transactional: Callable[[], Producer]
) -> None:
    # Watermark queries through the follower's own consumer waited behind its fetches
    # (fetch.wait.max.ms each, per partition): 12 partitions took 6 s at 500 ms.
    topic = new_topic(PARTITIONS)
    producer = transactional()
    committed_rows(producer, topic, [f"row-{n}".encode() for n in range(PARTITIONS)])
    rows = Rows()
    table = CompactedTable(settings, topic, rows.apply, name="test-table", fetch_wait_ms=500)
    table.start()
    try:
        assert table.caught_up.wait(30)
        assert len(rows.values) == PARTITIONS
        committed_rows(producer, topic, [b"late"])
        began = time.monotonic()
        assert table.sync(10)
        took = time.monotonic() - began
        assert b"late" in rows.values
        assert took < 2.0, f"sync took {took:.1f}s on {PARTITIONS} partitions"
    finally:
        table.stop()


def test_an_open_transaction_does_not_hold_a_sync(
    settings: Settings, new_topic: Callable[..., str], transactional: Callable[[], Producer]
) -> None:
    # A read_committed reader cannot pass the last stable offset: waiting for the high
    # watermark would wait for another worker's batch to commit.
    topic = new_topic(PARTITIONS)
    committed_rows(transactional(), topic, [b"committed"])
    rows = Rows()
    table = CompactedTable(settings, topic, rows.apply, name="test-table", fetch_wait_ms=100)
    table.start()
    open_one = transactional()
    try:
        assert table.caught_up.wait(30)
        open_one.begin_transaction()
        open_one.produce(topic, b"uncommitted", partition=0)
        open_one.flush(10)
        assert table.sync(5), "a sync waited for a transaction that is still open"
        assert b"uncommitted" not in rows.values
        open_one.commit_transaction(30)
        assert table.sync(5)
        assert b"uncommitted" in rows.values
    finally:
        table.stop()
