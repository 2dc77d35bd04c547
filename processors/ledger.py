"""What the fleet knows of each request_id, read from the compacted status topic.

Two promises rest on it, across restarts and rebalances:

- idempotency: a request_id already processed (from another offset) is a duplicate: the
  same request again is dropped without a second outcome; a different request under that
  id fails alone (``duplicate_request_id``);
- durable attempts: before a pass, its requests are recorded as ``processing`` with an
  attempt count (flushed, outside the cycle's transaction); a pass that ends, or a batch
  given up on purpose, records them ``queued`` again with the count they had. A worker
  that dies mid-pass leaves ``processing``: whoever reads that request again sees one more
  crash, runs it in a pass of its own, and fails it ``inference_crash`` after
  ``max_crashes``, instead of crashing every worker that takes the partition.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from confluent_kafka import KafkaError, Message

from diffstream.kafka import make_producer
from diffstream.settings import Settings
from diffstream.tables import CompactedTable
from processors.outcomes import status_record
from schemas.codec import Codec
from schemas.events import EventName, RequestState
from schemas.exceptions import DecodeError
from schemas.topics import STATUS

log = logging.getLogger(__name__)

SYNC_TIMEOUT_S = 10.0
ACK_TIMEOUT_S = 30.0
# How long one wait for acks blocks in poll before looking whether another thread served them.
ACK_POLL_S = 0.005
# States a worker writes around inference; the others are outcomes.
_ATTEMPT_STATES = frozenset({RequestState.QUEUED, RequestState.PROCESSING})


class Entry(NamedTuple):
    """The latest status of one request_id."""

    state: str
    attempt: int
    fingerprint: str | None
    source: tuple[str, int, int] | None
    updated_at: datetime


def source_key(source: Mapping[str, Any] | None) -> tuple[str, int, int] | None:
    """``(topic, partition, offset)`` of a SourceCoordinates record."""
    if not source:
        return None
    return (str(source["topic"]), int(source["partition"]), int(source["offset"]))


class Acks:
    """Delivery of one call's attempt records, counted by their delivery callbacks."""

    def __init__(self) -> None:
        self._pending = 0
        self._lock = threading.Lock()
        self.done = threading.Event()
        self.done.set()  # nothing expected yet
        self.errors: list[KafkaError] = []

    def expect(self) -> None:
        """One more record is under way."""
        with self._lock:
            self._pending += 1
            self.done.clear()

    def delivered(self, error: KafkaError | None, _message: Message) -> None:
        """A delivery callback (on whichever thread polls the producer)."""
        with self._lock:
            if error is not None:
                self.errors.append(error)
            self._pending -= 1
            if self._pending == 0:
                self.done.set()


class RequestLedger:
    """The status table, plus the attempt records this worker writes."""

    def __init__(self, settings: Settings, codec: Codec) -> None:
        self._codec = codec
        self._topic = settings.topic(STATUS)
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()
        self._table = CompactedTable(settings, self._topic, self._read, name="ledger")
        self._producer = make_producer(
            settings, {"enable.idempotence": True, "acks": "all", "linger.ms": 0}
        )

    def start(self) -> None:
        """Start reading the status topic."""
        self._table.start()

    def stop(self) -> None:
        """Stop reading; flush what was recorded."""
        self._table.stop()
        self._producer.flush(10)

    def sync(self, timeout_s: float = SYNC_TIMEOUT_S) -> None:
        """Wait until the table holds what the topic holds now (after an assignment)."""
        if not self._table.sync(timeout_s):
            log.warning("status table not caught up within %.0fs", timeout_s)

    def get(self, request_id: str) -> Entry | None:
        """The latest status of ``request_id``, if any."""
        with self._lock:
            return self._entries.get(request_id)

    def crashes(self, request_id: str, source: tuple[str, int, int]) -> int:
        """How many times inference of the request read at ``source`` was under way when
        its worker died."""
        entry = self.get(request_id)
        if entry is None or entry.source != source or entry.state not in _ATTEMPT_STATES:
            return 0
        return entry.attempt

    def record(
        self, requests: Iterable[tuple[Mapping[str, Any], Mapping[str, Any], int]], state: str
    ) -> Acks:
        """Write ``state`` with an attempt count for each (request, source, attempt); the
        records are durable once ``wait`` has their ``Acks``."""
        acks = Acks()
        for request, source, attempt in requests:
            status = attempt_status(request, state, source=source, attempt=attempt)
            key = str(request["request_id"])
            acks.expect()
            self._producer.produce(
                self._topic,
                self._codec.encode(EventName.STATUS, status),
                key.encode(),
                headers=self._codec.headers(EventName.STATUS),
                on_delivery=acks.delivered,
            )
            self.note(status)
        return acks

    def wait(self, acks: Acks, timeout_s: float = ACK_TIMEOUT_S) -> None:
        """Until the broker has the records of ``acks``. Not a flush: the records of other
        calls (another thread's, still under way) are not waited for."""
        deadline = time.monotonic() + timeout_s
        while not acks.done.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("attempt records not acknowledged within %.0fs", timeout_s)
                return
            # Serves delivery callbacks; another thread's poll may serve ours meanwhile.
            self._producer.poll(min(remaining, ACK_POLL_S))
        if acks.errors:
            log.warning("attempt records not written: %s", acks.errors[0])

    def note(self, status: Mapping[str, Any]) -> None:
        """Take a status this worker wrote (or committed) without waiting to read it back."""
        self._put(str(status["request_id"]), status)

    def _read(self, message: Message) -> None:
        value, key = message.value(), message.key()
        if value is None:
            if key is not None:
                with self._lock:
                    self._entries.pop(key.decode(errors="replace"), None)
            return
        try:
            status = self._codec.decode(value, expected=EventName.STATUS, topic=self._topic).value
        except DecodeError as error:
            log.warning("ignoring a bad status event: %s", error)
            return
        self._put(str(status["request_id"]), status)

    def _put(self, request_id: str, status: Mapping[str, Any]) -> None:
        entry = Entry(
            state=str(status["state"]),
            attempt=int(status.get("attempt") or 0),
            fingerprint=status.get("fingerprint"),
            source=source_key(status.get("source")),
            updated_at=status["updated_at"],
        )
        with self._lock:
            held = self._entries.get(request_id)
            # Our own writes are taken at once and read back later: never step back.
            if held is None or entry.updated_at >= held.updated_at:
                self._entries[request_id] = entry


def attempt_status(
    request: Mapping[str, Any], state: str, *, source: Mapping[str, Any], attempt: int
) -> dict[str, Any]:
    """The RequestStatus a worker writes around inference (``processing`` / ``queued``)."""
    return status_record(dict(request), RequestState(state), source=dict(source), attempt=attempt)
