"""Helpers for the producers' integration tests: isolated topics, reading topics back."""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import Message

from diffstream.kafka import make_consumer, make_producer
from diffstream.settings import Settings
from schemas.codec import Codec
from schemas.events import EventName
from tests.integration.isolation import SMALL, isolate

__all__ = ["SMALL", "isolate"]


def read_all(
    settings: Settings,
    topic: str,
    *,
    expected: int = 0,
    timeout_s: float = 30,
    settle_s: float = 1.5,
) -> list[Message]:
    """Every record of ``topic`` (read_committed), waiting for ``expected`` of them and then
    ``settle_s`` longer, so that extra ones (a duplicate) would be seen too."""
    consumer = make_consumer(
        settings,
        {
            "group.id": f"check-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        },
    )
    consumer.subscribe([settings.topic(topic)])
    found: list[Message] = []
    deadline = time.monotonic() + timeout_s
    settle: float | None = None
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                found.append(message)
            if len(found) >= expected:
                settle = settle or time.monotonic() + settle_s
                if time.monotonic() > settle:
                    break
    finally:
        consumer.close()
    return found


def decode_all(settings: Settings, messages: list[Message]) -> list[dict[str, Any]]:
    """The decoded values of ``messages``."""
    codec = Codec(settings)
    return [codec.decode(m.value()).value for m in messages]


def produce_event(
    settings: Settings,
    topic: str,
    event: EventName,
    record: dict[str, Any],
    *,
    timestamp_ms: int | None = None,
) -> None:
    """Write one event the way the pipeline does (keyed by request_id)."""
    codec = Codec(settings)
    producer = make_producer(settings, {"enable.idempotence": True, "acks": "all"})
    kwargs: dict[str, Any] = {"headers": codec.headers(event)}
    if timestamp_ms is not None:
        kwargs["timestamp"] = timestamp_ms
    producer.produce(
        settings.topic(topic),
        codec.encode(event, record),
        str(record["request_id"]).encode(),
        **kwargs,
    )
    assert producer.flush(30) == 0
