"""The processors' lag on the interactive lane, for load shedding.

A thread reads the processors' committed offsets (without joining their group) and the
topic's high watermarks every ``lag_check_interval_s``; a submit only reads the number.
"""

from __future__ import annotations

import logging
import threading
import uuid

from confluent_kafka import KafkaException, TopicPartition

from diffstream.kafka import make_consumer
from diffstream.settings import Settings
from producers.gateway.settings import GatewaySettings
from schemas.topics import REQUESTS

log = logging.getLogger(__name__)


class LaneLag:
    """How many interactive requests the processors have not committed yet."""

    def __init__(self, settings: Settings, gateway: GatewaySettings) -> None:
        self._settings = settings
        self._interval_s = gateway.lag_check_interval_s
        self.lag = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="gateway-lag", daemon=True)

    def start(self) -> None:
        """Start measuring."""
        self._thread.start()

    def stop(self) -> None:
        """Stop measuring."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _watch(self) -> None:
        consumer = make_consumer(
            self._settings,
            {
                # committed() reads this group's offsets; the consumer never subscribes.
                "group.id": self._settings.processor.group_id,
                "enable.auto.commit": False,
                "client.id": f"diffstream-gateway-lag-{uuid.uuid4().hex[:6]}",
            },
        )
        topic = self._settings.topic(REQUESTS)
        timeout_s = self._settings.producer.admin_timeout_s
        try:
            while not self._stop.is_set():
                try:
                    self.lag = self._measure(consumer, topic, timeout_s)
                except KafkaException as exc:
                    log.warning("cannot measure the interactive lane's lag: %s", exc)
                self._stop.wait(self._interval_s)
        finally:
            consumer.close()

    @staticmethod
    def _measure(consumer: object, topic: str, timeout_s: float) -> int:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)  # type: ignore[attr-defined]
        if metadata is None or not metadata.partitions:
            return 0
        tps = [TopicPartition(topic, p) for p in sorted(metadata.partitions)]
        committed = consumer.committed(tps, timeout=timeout_s)  # type: ignore[attr-defined]
        lag = 0
        for tp in committed:
            low, high = consumer.get_watermark_offsets(  # type: ignore[attr-defined]
                TopicPartition(topic, tp.partition), timeout=timeout_s, cached=False
            )
            lag += max(high - (tp.offset if tp.offset >= 0 else low), 0)
        return lag
