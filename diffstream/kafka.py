"""Kafka clients built from settings, with librdkafka's log routed through Python logging.

librdkafka logs every failed reconnect (many per second while a broker is down) straight to
stderr. Here its log goes to the ``diffstream.librdkafka`` logger, and a repeated message
is let through once per ``REPEAT_WINDOW_S`` with a count of what was held back.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from diffstream.settings import KafkaConfig, Settings

REPEAT_WINDOW_S = 30.0
# How long the broker may hold a fetch while nothing arrives. It answers as soon as a record
# (or a commit marker) lands, so this only paces idle fetches, which cost the broker a fetch
# per consumer each time: one idle gateway view took 0.13-0.21 of a broker core at 10 ms,
# 0.06 at 500.
IDLE_FETCH_WAIT_MS = 500
_VOLATILE = re.compile(r"\d+")


class RepeatThrottle(logging.Filter):
    """Lets a repeated log line through once per window, noting how many were dropped."""

    def __init__(self, window_s: float = REPEAT_WINDOW_S) -> None:
        super().__init__()
        self._window_s = window_s
        self._seen: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = _VOLATILE.sub("#", record.getMessage())
        now = time.monotonic()
        with self._lock:
            last, dropped = self._seen.get(key, (float("-inf"), 0))
            if now - last < self._window_s:
                self._seen[key] = (last, dropped + 1)
                return False
            self._seen[key] = (now, 0)
        if dropped:
            record.msg = f"{record.msg} (repeated {dropped} more times)"
        return True

    def forget(self) -> None:
        """Let every line through once again (a test that counts lines starts here)."""
        with self._lock:
            self._seen.clear()


librdkafka_log = logging.getLogger("diffstream.librdkafka")
librdkafka_throttle = RepeatThrottle()
librdkafka_log.addFilter(librdkafka_throttle)


def make_producer(settings: Settings, overrides: KafkaConfig | None = None) -> Producer:
    """A producer for the configured cluster; ``overrides`` are librdkafka properties."""
    return Producer(settings.kafka_config(overrides), logger=librdkafka_log)


def make_consumer(settings: Settings, overrides: KafkaConfig | None = None) -> Consumer:
    """A consumer for the configured cluster; pass at least ``group.id`` in ``overrides``."""
    return Consumer(settings.kafka_config(overrides), logger=librdkafka_log)


def make_admin(settings: Settings, overrides: KafkaConfig | None = None) -> AdminClient:
    """An admin client for the configured cluster."""
    return AdminClient(settings.kafka_config(overrides), logger=librdkafka_log)
