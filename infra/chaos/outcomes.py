"""What the pipeline said happened: every terminal event (read_committed), and the bucket."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition
from minio.error import S3Error
from urllib3.exceptions import HTTPError

from diffstream.kafka import make_admin, make_consumer
from diffstream.s3 import make_s3_client
from diffstream.settings import Settings
from infra.chaos.exceptions import ChaosError
from schemas.codec import Codec
from schemas.events import EventName
from schemas.exceptions import DecodeError
from schemas.topics import COMPLETED, FAILED

log = logging.getLogger(__name__)


class Terminal(NamedTuple):
    """One terminal event: a completed or a failed one."""

    request_id: str
    kind: str  # "completed" or "failed"
    error_code: str | None
    message: str
    image_uris: tuple[str, ...]
    seen_at: float  # time.monotonic() when the reader got it


class OutcomeReader:
    """Follows ``diffusion.completed`` and ``diffusion.failed`` from the beginning, the way a
    subscriber would (read_committed), on a thread of its own."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._codec = Codec(settings)
        self._lock = threading.Lock()
        self._events: list[Terminal] = []
        self._by_request: dict[str, list[Terminal]] = defaultdict(list)
        self.undecodable = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="outcomes", daemon=True)

    def __enter__(self) -> OutcomeReader:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def events(self) -> list[Terminal]:
        """Every terminal event read so far, in the order read."""
        with self._lock:
            return list(self._events)

    def of(self, request_id: str) -> list[Terminal]:
        """The terminal events of one request."""
        with self._lock:
            return list(self._by_request.get(request_id, ()))

    def count_done(self, request_ids: Iterable[str]) -> int:
        """How many of ``request_ids`` have at least one terminal event."""
        with self._lock:
            return sum(1 for r in request_ids if r in self._by_request)

    def wait_for(self, request_ids: Iterable[str], timeout_s: float, settle_s: float = 3.0) -> bool:
        """Wait until each of ``request_ids`` has an outcome, then ``settle_s`` longer (so
        that a second outcome would be read too); False at the timeout."""
        wanted = set(request_ids)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.count_done(wanted) == len(wanted):
                time.sleep(settle_s)
                return True
            time.sleep(0.2)
        return False

    def _follow(self) -> None:
        consumer = make_consumer(
            self._settings,
            {
                "group.id": f"chaos-reader-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
            },
        )
        # Assigned, not subscribed: a subscription rebalances when metadata shows a topic
        # late, and with nothing committed it would read everything again.
        topics = [self._settings.topic(COMPLETED), self._settings.topic(FAILED)]
        consumer.assign(
            [
                TopicPartition(topic, partition, OFFSET_BEGINNING)
                for topic, count in topic_partitions(self._settings, topics).items()
                for partition in range(count)
            ]
        )
        seen: set[tuple[str, int, int]] = set()
        try:
            while not self._stop.is_set():
                message = consumer.poll(0.2)
                if message is None or message.error() is not None:
                    continue
                where = (message.topic() or "", message.partition() or 0, message.offset() or 0)
                if where in seen:  # the same record read again is not a second outcome
                    continue
                seen.add(where)
                try:
                    decoded = self._codec.decode(message.value())
                except DecodeError as exc:
                    self.undecodable += 1
                    log.warning("undecodable outcome at %s: %s", message.topic(), exc)
                    continue
                self._record(decoded.event, decoded.value)
        finally:
            consumer.close()

    def _record(self, event: EventName, value: dict[str, Any]) -> None:
        images = value.get("images") or []
        uris = tuple(str(image["uri"]) for image in images if isinstance(image, dict))
        failed = event == EventName.FAILED
        terminal = Terminal(
            request_id=str(value["request_id"]),
            kind="failed" if failed else "completed",
            error_code=str(value["error_code"]) if failed else None,
            message=str(value.get("message") or ""),
            image_uris=uris,
            seen_at=time.monotonic(),
        )
        with self._lock:
            self._events.append(terminal)
            self._by_request[terminal.request_id].append(terminal)


def topic_partitions(
    settings: Settings, topics: Sequence[str], timeout_s: float = 60.0
) -> dict[str, int]:
    """Each topic's partition count, once the broker's metadata lists every partition of
    every one of them with a leader (a topic just created may not be there yet)."""
    admin = make_admin(settings)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            known = admin.list_topics(timeout=10).topics
        except KafkaException:
            known = {}
        ready = {
            name: len(known[name].partitions)
            for name in topics
            if name in known
            and known[name].partitions
            and all(p.leader >= 0 for p in known[name].partitions.values())
        }
        if len(ready) == len(topics):
            return ready
        if time.monotonic() > deadline:
            missing = sorted(set(topics) - set(ready))
            raise ChaosError(f"topics without leaders after {timeout_s:.0f}s: {missing}")
        time.sleep(0.2)


def missing_images(settings: Settings, events: Iterable[Terminal]) -> list[str]:
    """The image URIs of completed events that the bucket does not hold."""
    client = make_s3_client(settings)
    missing = []
    for event in events:
        for uri in event.image_uris:
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            try:
                client.stat_object(bucket, key)
            except S3Error:
                missing.append(uri)
            except HTTPError as exc:
                log.warning("could not check %s: %s", uri, exc)
                missing.append(uri)
    return missing
