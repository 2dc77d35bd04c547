"""The set of cancelled request ids, read as a table from the compacted cancellations topic."""

from __future__ import annotations

import logging
import threading
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition

from diffstream.kafka import make_consumer
from diffstream.settings import Settings
from schemas.codec import Codec
from schemas.events import EventName
from schemas.exceptions import DecodeError
from schemas.topics import CANCELLATIONS

log = logging.getLogger(__name__)

TOPIC_WAIT_S = 10.0


class CancellationView:
    """Follows ``diffusion.cancellations`` from its start on a thread of its own.

    Every worker reads every partition (no consumer group): a cancel must reach whichever
    worker holds the request. A cancel that arrives after inference began is too late.
    """

    def __init__(self, settings: Settings, codec: Codec) -> None:
        self._settings = settings
        self._codec = codec
        self._topic = settings.topic(CANCELLATIONS)
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.caught_up = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="cancellations", daemon=True)

    def __contains__(self, request_id: object) -> bool:
        with self._lock:
            return str(request_id) in self._cancelled

    def is_cancelled(self, request_id: str) -> bool:
        """Whether a cancel for ``request_id`` has been read."""
        return request_id in self

    def start(self) -> None:
        """Start following the topic."""
        self._thread.start()

    def stop(self) -> None:
        """Stop following and close the consumer."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _follow(self) -> None:
        consumer = make_consumer(
            self._settings,
            {
                "group.id": f"diffstream-cancellations-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            },
        )
        try:
            metadata = None
            deadline = time.monotonic() + TOPIC_WAIT_S
            # A topic created a moment ago may not be in the metadata yet.
            while metadata is None and time.monotonic() < deadline and not self._stop.is_set():
                found = consumer.list_topics(self._topic, timeout=10).topics.get(self._topic)
                if found is not None and found.error is None and found.partitions:
                    metadata = found
                else:
                    time.sleep(0.2)
            if metadata is None:
                log.warning("%s is missing: cancellations are not honoured", self._topic)
                return
            partitions = [
                TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in metadata.partitions
            ]
            # What existed at start: once read, the view is as current as the topic was.
            behind = {
                tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions
            }
            behind = {p: high for p, high in behind.items() if high > 0}
            consumer.assign(partitions)
            if not behind:
                self.caught_up.set()
            while not self._stop.is_set():
                message = consumer.poll(0.2)
                if message is not None and message.error() is None:
                    self._read(message.value(), message.key())
                if behind:
                    # Positions, not offsets: they also step over transaction markers.
                    for tp in consumer.position(partitions):
                        if tp.offset >= behind.get(tp.partition, 0):
                            behind.pop(tp.partition, None)
                    if not behind:
                        self.caught_up.set()
        except KafkaException as exc:
            log.error("stopped following %s: %s", self._topic, exc)
        finally:
            self.caught_up.set()  # never leave the processor waiting on a view that stopped
            consumer.close()

    def _read(self, value: bytes | None, key: bytes | None) -> None:
        if value is None:  # a tombstone withdraws the cancel
            if key is not None:
                with self._lock:
                    self._cancelled.discard(key.decode(errors="replace"))
            return
        try:
            decoded = self._codec.decode(value, expected=EventName.CANCEL, topic=self._topic)
        except DecodeError as error:
            log.warning("ignoring a bad cancel event: %s", error)
            return
        with self._lock:
            self._cancelled.add(str(decoded.value["request_id"]))
