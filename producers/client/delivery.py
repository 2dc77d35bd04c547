"""An idempotent, acks=all producer whose sends return futures, served by one poll thread."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from diffstream.kafka import make_producer
from diffstream.replica_check import ReplicaCheck
from diffstream.settings import Settings
from producers.exceptions import PublishError
from schemas.codec import Codec
from schemas.events import EventName

logger = logging.getLogger(__name__)

# Delivery failures that mean "not acknowledged in time": worth asking the cluster why.
_UNACKNOWLEDGED = {
    KafkaError._MSG_TIMED_OUT,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.NOT_ENOUGH_REPLICAS,
    KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
}

Headers = Sequence[tuple[str, str | bytes | None]]


class DeliveryProducer:
    """Sends records and resolves each one's future when the brokers acknowledge it.

    ``message.timeout.ms`` is the publish timeout, so an unreachable cluster fails every
    pending future with ``PublishError`` instead of leaving it waiting forever.
    """

    def __init__(self, settings: Settings, *, publish_timeout_s: float | None = None) -> None:
        self.settings = settings
        self.timeout_s = publish_timeout_s or settings.producer.publish_timeout_s
        self._producer = make_producer(
            settings,
            {
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": settings.producer.linger_ms,
                "message.timeout.ms": max(int(self.timeout_s * 1000), 1),
            },
        )
        self._replicas = ReplicaCheck(settings)
        # Each pending record's topic, for explaining a write that is never reported on.
        self._topics: weakref.WeakKeyDictionary[Future[Message], str] = weakref.WeakKeyDictionary()
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="diffstream-delivery", daemon=True)
        self._poller.start()

    def send(
        self, topic: str, value: bytes | None, key: bytes | None, headers: Headers | None = None
    ) -> Future[Message]:
        """Queue one record; the future resolves on acknowledgement or fails with PublishError."""
        if self._closed.is_set():
            raise PublishError("this publisher is closed")
        future: Future[Message] = Future()
        self._topics[future] = topic
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                self._producer.produce(
                    topic,
                    value,
                    key,
                    headers=list(headers or ()),
                    on_delivery=lambda err, msg: self._delivered(future, err, msg),
                )
                return future
            except BufferError:
                # The local queue is full: wait for deliveries to drain it, within the timeout.
                if time.monotonic() > deadline:
                    raise PublishError(self._describe("the local send queue stayed full")) from None
                time.sleep(0.05)
            except KafkaException as exc:
                raise PublishError(self._describe(str(exc))) from exc

    def wait(self, future: Future[Message]) -> Message:
        """The acknowledged record, or ``PublishError`` (after the timeout + 2 s at most, and
        the check); an unacknowledged write says which in-sync replicas are missing, when
        that is why."""
        try:
            return future.result(timeout=self.timeout_s + 2.0)
        except TimeoutError:
            # Not even reported on (a cluster that lost its quorum may not time it out).
            topic = self._topics.get(future)
            cause = self._replicas.explain(topic) if topic is not None else None
            message = self._describe("no acknowledgement") + (f"; {cause}" if cause else "")
            raise PublishError(message, topic=topic) from None
        except PublishError as exc:
            if exc.topic is None or exc.code not in _UNACKNOWLEDGED:
                raise
            cause = self._replicas.explain(exc.topic)
            if cause is None:
                raise
            raise PublishError(f"{exc}; {cause}", topic=exc.topic, code=exc.code) from exc

    def flush(self, timeout_s: float | None = None) -> int:
        """Wait for every queued record; returns how many are still undelivered."""
        return int(self._producer.flush(self.timeout_s if timeout_s is None else timeout_s))

    def close(self) -> None:
        """Flush (within the publish timeout), then stop the poll thread."""
        if self._closed.is_set():
            return
        left = self.flush()
        if left:
            logger.warning("%d record(s) still undelivered when the publisher closed", left)
        self._closed.set()
        self._poller.join(5)

    def _poll(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.1)

    def _delivered(
        self, future: Future[Message], error: KafkaError | None, message: Message
    ) -> None:
        if future.done():
            return
        if error is None:
            future.set_result(message)
        else:
            future.set_exception(
                PublishError(self._describe(error.str()), topic=message.topic(), code=error.code())
            )

    def _describe(self, reason: str) -> str:
        return (
            f"could not publish to Kafka at {self.settings.kafka_bootstrap} within "
            f"{self.timeout_s:g}s (DIFFSTREAM_PRODUCER__PUBLISH_TIMEOUT_S): {reason}"
        )


def send_event(
    settings: Settings,
    codec: Codec,
    topic: str,
    event: EventName,
    record: Mapping[str, Any],
    *,
    key: bytes,
) -> Message:
    """One ``event`` record on a producer of its own, returned once the brokers acknowledged
    it (``PublishError`` otherwise): for commands that write a single event and exit."""
    producer = DeliveryProducer(settings)
    try:
        value, headers = codec.encode(event, record), codec.headers(event)
        return producer.wait(producer.send(topic, value, key, headers))
    finally:
        producer.close()
