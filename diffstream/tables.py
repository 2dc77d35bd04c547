"""A compacted topic read as a table: every partition from its start, on a thread of its own.

Each instance reads every partition (no consumer group), so whichever worker holds a request
sees every row. ``sync`` waits until the table holds everything the topic held when it was
called: a worker calls it when partitions are assigned to it, so its decisions rest on what
the previous owner wrote.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Self

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from diffstream.consuming import stable_ends
from diffstream.kafka import IDLE_FETCH_WAIT_MS, make_admin, make_consumer
from diffstream.settings import Settings

log = logging.getLogger(__name__)

TOPIC_WAIT_S = 10.0
POLL_S = 0.2
# Rows taken per call while catching up.
BATCH = 500

#: Applies one row (a message of the topic, a tombstone included) to the caller's table.
Apply = Callable[[Message], None]


class CompactedTable:
    """Follows ``topic`` from the beginning and hands every row to ``apply``."""

    def __init__(
        self,
        settings: Settings,
        topic: str,
        apply: Apply,
        *,
        name: str,
        fetch_wait_ms: int = IDLE_FETCH_WAIT_MS,
    ) -> None:
        self._settings = settings
        self._fetch_wait_ms = fetch_wait_ms
        self.topic = topic
        self._apply = apply
        self._stop = threading.Event()
        self._positions: dict[int, int] = {}
        self._changed = threading.Condition()
        self._sync_requests: list[threading.Event] = []
        self._stopped = False
        self.caught_up = threading.Event()
        self._thread = threading.Thread(target=self._follow, name=name, daemon=True)
        # Ends are asked on connections of their own, not behind the follower's fetches.
        self._admin = make_admin(settings)

    def start(self) -> None:
        """Start following the topic."""
        self._thread.start()

    def stop(self) -> None:
        """Stop following and close the consumer."""
        self._stop.set()
        self._thread.join(timeout=10)

    def sync(self, timeout_s: float) -> bool:
        """Wait until every row the topic holds now has been applied; False on timeout."""
        if self._stopped:
            return False
        done = threading.Event()
        with self._changed:
            self._sync_requests.append(done)
        return done.wait(timeout_s)

    def _follow(self) -> None:
        consumer = make_consumer(
            self._settings,
            {
                "group.id": f"diffstream-table-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": self._fetch_wait_ms,
            },
        )
        try:
            partitions = self._partitions(consumer)
            if partitions is None:
                return
            consumer.assign(partitions)
            # Syncs whose ends are still to be asked (the broker may be away for a while).
            asked: list[threading.Event] = [self.caught_up]
            targets: list[tuple[threading.Event, dict[int, int]]] = []
            while not self._stop.is_set():
                for message in _next_rows(consumer):
                    if message.error() is None:
                        self._apply(message)
                with self._changed:
                    asked += self._sync_requests
                    self._sync_requests = []
                ends = self._ends(partitions) if asked else None
                if ends is not None:
                    targets += [(event, ends) for event in asked]
                    asked = []
                if targets:
                    # Positions, not offsets: they also step over transaction markers.
                    at = {tp.partition: tp.offset for tp in consumer.position(partitions)}
                    pending = []
                    for event, ends in targets:
                        if all(at.get(p, 0) >= end for p, end in ends.items()):
                            event.set()
                        else:
                            pending.append((event, ends))
                    targets = pending
        except KafkaException as exc:
            log.error("stopped following %s: %s", self.topic, exc)
        finally:
            self._stopped = True
            self.caught_up.set()  # never leave a worker waiting on a table that stopped
            with self._changed:
                for event in self._sync_requests:
                    event.set()
            consumer.close()

    def _partitions(self, consumer: Consumer) -> list[TopicPartition] | None:
        """Every partition from its start; waits for a topic created later (or a moment
        ago, not in the metadata yet), saying so every ``TOPIC_WAIT_S``; None once stopped."""
        warn_at = time.monotonic() + TOPIC_WAIT_S
        while not self._stop.is_set():
            try:
                found = consumer.list_topics(self.topic, timeout=10).topics.get(self.topic)
            except KafkaException as exc:
                log.debug("metadata of %s not read: %s", self.topic, exc)
                found = None
            if found is not None and found.error is None and found.partitions:
                return [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in found.partitions]
            if time.monotonic() >= warn_at:
                log.warning("%s does not exist yet (run `diffstream topics create`)", self.topic)
                warn_at = time.monotonic() + 6 * TOPIC_WAIT_S
            self._stop.wait(0.2)
        return None

    def _ends(self, partitions: list[TopicPartition]) -> dict[int, int] | None:
        """The partitions' stable ends (only those with rows); None while unreadable."""
        try:
            ends = stable_ends(self._admin, partitions, timeout_s=10)
        except (KafkaException, TimeoutError) as exc:
            log.debug("ends of %s not read yet: %s", self.topic, exc)
            # A fresh client, fresh metadata: after a leader moved, the admin client asks
            # with the leader epoch it cached, and is refused (FENCED_LEADER_EPOCH) for good.
            self._admin = make_admin(self._settings)
            return None
        return {partition: end for (_topic, partition), end in ends.items() if end > 0}


class TableView:
    """What a role keeps of one compacted topic: a subclass holds the rows its ``_read``
    takes; this holds the follower and its lifetime."""

    def __init__(
        self,
        settings: Settings,
        topic: str,
        *,
        name: str,
        fetch_wait_ms: int = IDLE_FETCH_WAIT_MS,
    ) -> None:
        self.topic = topic
        self._table = CompactedTable(
            settings, topic, self._read, name=name, fetch_wait_ms=fetch_wait_ms
        )
        self.caught_up = self._table.caught_up

    def _read(self, message: Message) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        """Start following the topic."""
        self._table.start()
        return self

    def sync(self, timeout_s: float) -> bool:
        """Wait until every row written so far has been read; False on timeout."""
        return self._table.sync(timeout_s)

    def stop(self) -> None:
        """Stop following and close the consumer."""
        self._table.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _next_rows(consumer: Consumer) -> list[Message]:
    """Wait for one row, then take what else is there: a lone row is applied at once (a
    batch call would hold it for the whole poll), a backlog in batches."""
    first = consumer.poll(POLL_S)
    return [] if first is None else [first, *consumer.consume(BATCH, 0)]
