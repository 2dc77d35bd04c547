"""The pure parts of subscribe/watch and of the broker probe."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError

from diffstream.broker_probe import describe_cause
from producers.client.events import KINDS, Event
from producers.operations.positions import parse_position
from producers.watch_cli import image_link, summary_json, tenant_of
from schemas.events import EventName


def test_every_event_has_a_kind() -> None:
    assert set(KINDS) >= set(EventName) - {EventName.TENANT_KEY, EventName.MODEL_ALIAS}
    assert KINDS[EventName.PROGRESS] == "progress"


def test_earliest_and_latest_are_positions() -> None:
    assert parse_position("earliest").edge == "earliest"
    assert parse_position(" Latest ").edge == "latest"
    assert parse_position("12").edge is None


def test_the_cause_of_an_unreachable_broker_is_named() -> None:
    refused = KafkaError(
        KafkaError._TRANSPORT, "Connect to ipv4#127.0.0.1:1 failed: Connection refused"
    )
    assert describe_cause([refused]).startswith("connection refused")
    dns = KafkaError(KafkaError._RESOLVE, "Failed to resolve 'x.invalid:9092'")
    assert describe_cause([refused, dns]).startswith("DNS")
    sasl = KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error")
    assert "DIFFSTREAM_KAFKA_SASL_USERNAME" in describe_cause([sasl])
    tls = KafkaError(KafkaError._TRANSPORT, "SSL handshake failed: certificate verify failed")
    assert "DIFFSTREAM_KAFKA_SSL_CA_FILE" in describe_cause([tls])
    assert "no answer" in describe_cause([])


def test_a_summary_line_names_the_request_its_tenant_and_links() -> None:
    images = [{"uri": "s3://b/k.png"}, {"uri": "s3://b/k2.png", "url": "http://g/k2"}]
    value: dict[str, Any] = {
        "request_id": "r1",
        "images": images,
        "context": {"tenant": "acme"},
    }
    event = Event(kind="completed", value=value, topic="t", partition=0, offset=5)
    assert tenant_of(value) == "acme"
    assert tenant_of({"request": {"tenant": "zeta"}}) == "zeta"
    assert tenant_of({"request_id": "r"}) is None
    assert image_link(images[1]) == "http://g/k2"
    assert summary_json(event) == {
        "kind": "completed",
        "request_id": "r1",
        "images": ["s3://b/k.png", "http://g/k2"],
        "tenant": "acme",
        "at": "t[0]@5",
    }
