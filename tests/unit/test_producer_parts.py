"""Producer pieces without services: argument parsing, validation, unreachable brokers."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from diffstream.settings import ProducerSettings, Settings
from infra.stack.ports import free_port
from producers.client.events import Event
from producers.client.publisher import AsyncPublisher, Publisher
from producers.exceptions import InputError, PublishError
from producers.operations.field_text import assignment, coerce
from producers.operations.positions import parse_position
from schemas.exceptions import ValidationError


def closed_port_settings(timeout_s: float = 2.0) -> Settings:
    # Nothing listens on a port just freed: the broker is "stopped".
    return Settings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        producer=ProducerSettings(publish_timeout_s=timeout_s),
    )


def test_positions_are_offsets_or_times() -> None:
    now = datetime(2024, 6, 1, 12, tzinfo=UTC)
    assert parse_position("42").offset == 42
    assert parse_position("2024-06-01T10:00:00Z").time == datetime(2024, 6, 1, 10, tzinfo=UTC)
    assert parse_position("-15m", now=now).time == now - timedelta(minutes=15)
    assert parse_position("now", now=now).time == now
    with pytest.raises(InputError, match="neither an offset"):
        parse_position("yesterday-ish")


def test_fields_are_coerced_by_type_and_unknown_ones_named() -> None:
    assert coerce("steps", "4") == 4
    assert coerce("guidance_scale", "3.5") == 3.5
    assert coerce("seed", "") is None
    assert coerce("model", "sd-turbo") == "sd-turbo"
    assert assignment("labels.k=v=w") == ("labels.k", "v=w")
    with pytest.raises(InputError, match="'stepz' is not a GenerationRequest field"):
        coerce("stepz", "1")
    with pytest.raises(InputError, match="steps="):
        coerce("steps", "many")
    with pytest.raises(InputError, match="FIELD=VALUE"):
        assignment("model")


def test_an_invalid_request_is_refused_before_anything_is_sent() -> None:
    with Publisher(closed_port_settings()) as publisher:
        with pytest.raises(ValidationError) as caught:
            publisher.submit("a cat", width=65, steps=999)
        assert set(caught.value.fields) == {"width", "steps"}
        assert "width=65" in str(caught.value)
        assert "[64, 2048]" in str(caught.value)
        with pytest.raises(ValidationError):
            publisher.submit_many([{"prompt": "ok"}, {"prompt": ""}])
        assert publisher.flush(0) == 0, "nothing may be queued"


def test_an_unreachable_broker_fails_clearly_within_the_timeout() -> None:
    settings = closed_port_settings(timeout_s=2.0)
    started = time.monotonic()
    with Publisher(settings) as publisher, pytest.raises(PublishError) as caught:
        publisher.submit("a cat", width=64, height=64, steps=2)
    assert time.monotonic() - started < 8
    assert settings.kafka_bootstrap in str(caught.value)
    assert "PUBLISH_TIMEOUT_S" in str(caught.value)


def test_the_async_publisher_fails_clearly_too() -> None:
    async def go() -> None:
        async with AsyncPublisher(closed_port_settings(timeout_s=1.5)) as publisher:
            with pytest.raises(PublishError, match="Message timed out"):
                await asyncio.wait_for(publisher.submit("a cat"), 10)

    asyncio.run(go())


def test_event_accessors() -> None:
    event = Event(
        "completed",
        {"request_id": "r", "images": [{"uri": "s3://b/k.png"}, {"index": 1}]},
        "t",
        0,
        5,
    )
    assert event.image_uris == ["s3://b/k.png"]
    assert event.error_code is None
    assert event.coordinates == "t[0]@5"
