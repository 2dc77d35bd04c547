"""Standard Webhooks signatures and the JSON body: verifiable, and stable across retries."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from schemas.events import EventName
from schemas.examples import example
from sinks.delivery import Delivery
from sinks.exceptions import WebhookConfigurationError
from sinks.notify import plan_delivery
from sinks.payloads import webhook_body, webhook_id
from sinks.signing import WebhookSigner

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def test_signature_verifies_with_the_reference_library() -> None:
    body = webhook_body(EventName.COMPLETED, example(EventName.COMPLETED))
    headers = WebhookSigner(SecretStr(SECRET)).headers("msg_1", body)
    assert Webhook(SECRET).verify(body, headers)["type"] == "generation.completed"
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body + b" ", headers)


def test_an_old_timestamp_is_rejected_by_receivers() -> None:
    body = b'{"a":1}'
    old = datetime.now(UTC) - timedelta(minutes=10)
    headers = WebhookSigner(SecretStr(SECRET)).headers("msg_1", body, now=old)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(body, headers)


def test_a_missing_secret_is_a_configuration_error() -> None:
    with pytest.raises(WebhookConfigurationError, match="SIGNING_SECRET"):
        WebhookSigner(None)


def test_body_is_json_and_the_same_every_time() -> None:
    record = example(EventName.COMPLETED)
    body = webhook_body(EventName.COMPLETED, record)
    assert body == webhook_body(EventName.COMPLETED, record)
    payload = json.loads(body)
    assert payload["type"] == "generation.completed"
    assert payload["data"]["request_id"] == str(record["request_id"])
    assert payload["data"]["images"][0]["uri"].startswith("s3://")
    assert payload["timestamp"] == payload["data"]["completed_at"]


def test_webhook_id_is_stable_per_request_and_event() -> None:
    record = example(EventName.COMPLETED)
    first = webhook_id(record["request_id"], EventName.COMPLETED)
    assert first == webhook_id(record["request_id"], EventName.COMPLETED)
    assert first != webhook_id(record["request_id"], EventName.FAILED)


def test_only_requested_events_are_delivered() -> None:
    completed = example(EventName.COMPLETED)
    delivery = plan_delivery(EventName.COMPLETED, completed)
    assert isinstance(delivery, Delivery)
    assert delivery.url == completed["context"]["callback"]["url"]
    completed["context"]["callback"]["events"] = ["failed"]
    assert plan_delivery(EventName.COMPLETED, completed) is None
    completed["context"]["callback"] = None
    assert plan_delivery(EventName.COMPLETED, completed) is None
    failed = example(EventName.FAILED)
    assert plan_delivery(EventName.FAILED, failed) is not None
    failed["context"] = None
    assert plan_delivery(EventName.FAILED, failed) is None
