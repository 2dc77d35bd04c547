"""The requests a scenario publishes, and a publisher that records when each was acknowledged.

Load is published at a steady rate below what the fleet can do, so that what is in flight
when a fault hits is only the work under way, and the time until that work has its outcome
is the time the pipeline took to recover.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message

from diffstream.kafka import make_producer
from diffstream.settings import Settings
from schemas.builders import new_request
from schemas.codec import Codec
from schemas.events import EventName
from schemas.prompts import DIGITS_MODEL
from schemas.topics import REQUESTS

log = logging.getLogger(__name__)

# `digits` draws at its native size and scales up, so the side costs little; a few steps
# keep 300 requests within a minute of CPU on 2 cores (about 180 images/s at batch 8).
DIGITS_SIDE = 64
DIGITS_STEPS = 4
# librdkafka retries a publish for this long: a broker restart must not lose a request.
PUBLISH_TIMEOUT_MS = 120_000


def digits_request(index: int, **overrides: Any) -> dict[str, Any]:
    """A small `digits` request; the digit and the seed come from ``index``."""
    fields: dict[str, Any] = {
        "width": DIGITS_SIDE,
        "height": DIGITS_SIDE,
        "steps": DIGITS_STEPS,
        "guidance_scale": 1.0,
        "seed": index,
        "labels": {"chaos.index": str(index)},
        **overrides,
    }
    return new_request(f"a handwritten {index % 10}", model=DIGITS_MODEL, **fields)


@dataclass(slots=True)
class Published:
    """One request as the broker acknowledged it."""

    record: dict[str, Any]
    partition: int
    acked_at: float  # time.monotonic()


class LoadPublisher:
    """An idempotent, acks=all producer of requests that remembers every acknowledged one."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._codec = Codec(settings)
        self._producer = make_producer(
            settings,
            {
                "enable.idempotence": True,
                "acks": "all",
                "message.timeout.ms": PUBLISH_TIMEOUT_MS,
                "linger.ms": 5,
            },
        )
        self._lock = threading.Lock()
        self.published: list[Published] = []
        self.errors: list[str] = []

    def send(self, records: Iterable[dict[str, Any]], topic: str = REQUESTS) -> None:
        """Publish ``records`` (keyed by request_id) and wait until each is acknowledged."""
        for record in records:
            self._produce(record, topic)
        self.flush()

    def send_at_rate(
        self,
        records: Sequence[dict[str, Any]],
        per_second: float,
        *,
        on_sent: Callable[[int], None] | None = None,
        topic: str = REQUESTS,
    ) -> None:
        """Publish ``records`` evenly at ``per_second``; ``on_sent(n)`` after the n-th one
        (a scenario injects its faults from there, so they land mid-run)."""
        began = time.monotonic()
        for n, record in enumerate(records, start=1):
            due = began + (n - 1) / per_second
            # poll() returns as soon as it served a delivery report: wait in a loop.
            while (delay := due - time.monotonic()) > 0:
                self._producer.poll(min(delay, 0.1))
            self._produce(record, topic)
            if on_sent is not None:
                on_sent(n)
        self.flush()

    def flush(self) -> None:
        """Wait until every request sent so far is acknowledged (or failed)."""
        while self._producer.flush(1.0) > 0:
            pass

    def _produce(self, record: dict[str, Any], topic: str) -> None:
        value = self._codec.encode(EventName.REQUEST, record)
        key = str(record["request_id"]).encode()

        def acked(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                self.errors.append(f"{record['request_id']}: {error}")
                log.error("request %s was not published: %s", record["request_id"], error)
                return
            with self._lock:
                self.published.append(Published(record, message.partition() or 0, time.monotonic()))

        while True:
            try:
                self._producer.produce(
                    self._settings.topic(topic),
                    value,
                    key,
                    headers=self._codec.headers(EventName.REQUEST),
                    on_delivery=acked,
                )
                break
            except BufferError:  # the local queue is full while a broker is away
                self._producer.poll(0.1)
        self._producer.poll(0)

    def acked_at(self) -> dict[str, float]:
        """When each request was first acknowledged (time.monotonic())."""
        with self._lock:
            acked: dict[str, float] = {}
            for p in self.published:
                acked.setdefault(str(p.record["request_id"]), p.acked_at)
            return acked

    def request_ids(self) -> list[str]:
        """The ids of every acknowledged request, in the order they were acknowledged."""
        with self._lock:
            return [str(p.record["request_id"]) for p in self.published]


class LoadRun:
    """``send_at_rate`` on a thread of its own, so that a scenario injects faults meanwhile."""

    def __init__(
        self, publisher: LoadPublisher, records: Sequence[dict[str, Any]], per_second: float
    ) -> None:
        self.total = len(records)
        self._sent = 0
        self._changed = threading.Condition()
        self._thread = threading.Thread(
            target=publisher.send_at_rate,
            args=(records, per_second),
            kwargs={"on_sent": self._on_sent},
            name="load",
            daemon=True,
        )
        self._thread.start()

    def _on_sent(self, n: int) -> None:
        with self._changed:
            self._sent = n
            self._changed.notify_all()

    def wait_sent(self, n: int) -> None:
        """Block until ``n`` requests were handed to the producer."""
        with self._changed:
            # Woken by each send; the timeout notices a publisher that died.
            while self._sent < min(n, self.total) and self._thread.is_alive():
                self._changed.wait(0.5)

    def join(self) -> None:
        """Wait until every request is sent and acknowledged."""
        self._thread.join()
