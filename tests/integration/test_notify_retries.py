"""The notifier against the real broker: retried deliveries, dead letters, committed offsets."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from standardwebhooks.webhooks import Webhook

from diffstream.kafka import make_consumer
from diffstream.settings import Settings
from schemas.dlq import parse_dead_letter
from schemas.events import EventName
from schemas.examples import example
from schemas.topics import COMPLETED, FAILED, WEBHOOKS_DLQ
from sinks.notify import ID_HEADER, Notifier
from tests.integration.sinks_support import SECRET, isolate, publish, running_notifier, wait_for
from tests.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.integration


@pytest.fixture
def isolated(settings: Settings) -> Settings:
    return isolate(settings, webhooks={"give_up_after_s": 1.0})


@pytest.fixture
def notifier(isolated: Settings) -> Iterator[Notifier]:
    with running_notifier(isolated) as running:
        yield running


def test_three_failures_then_success_is_one_effect(isolated: Settings, notifier: Notifier) -> None:
    with receiving(Receiver(lambda n: 503 if n <= 3 else 204)) as receiver:
        completed = example(EventName.COMPLETED)
        completed["context"]["callback"] = {"url": receiver.url, "events": ["completed"]}
        publish(isolated, COMPLETED, EventName.COMPLETED, [completed])
        wait_for(lambda: notifier.outcomes.get("delivered") == 1, what="the delivery")
    assert len(receiver.received) == 4
    effects = {}
    for request in receiver.received:
        effects[request.headers["webhook-id"]] = Webhook(SECRET).verify(
            request.body, request.headers
        )
    assert len(effects) == 1, "every retry must carry the same webhook-id"
    [payload] = effects.values()
    assert payload["data"]["request_id"] == str(completed["request_id"])


def test_refused_and_given_up_deliveries_are_dead_lettered(
    isolated: Settings, notifier: Notifier
) -> None:
    with receiving(Receiver(lambda n: 500)) as receiver:
        failing = example(EventName.FAILED)
        failing["context"]["callback"] = {"url": receiver.url, "events": ["failed"]}
        refused = example(EventName.FAILED)
        refused["context"]["callback"] = {"url": "http://10.0.0.1/hook", "events": ["failed"]}
        silent = example(EventName.FAILED)
        silent["context"]["callback"] = None
        publish(isolated, FAILED, EventName.FAILED, [failing, refused, silent])
        wait_for(
            lambda: notifier.outcomes.get("gave_up") == 1 and notifier.outcomes.get("refused") == 1,
            what="both dead letters",
        )
    letters = _read_raw(isolated, WEBHOOKS_DLQ, expected=2)
    reasons = {
        dict(headers)[ID_HEADER].decode(): parse_dead_letter(headers).error_message
        for headers in letters
    }
    assert reasons[f"msg_{failing['request_id']}_failed"].startswith("gave_up")
    assert reasons[f"msg_{refused['request_id']}_failed"].startswith("refused")
    # Everything was handled, so the offsets were committed.
    wait_for(lambda: notifier.tracker.committable() == {}, what="the offset commit")


def _read_raw(settings: Settings, topic: str, expected: int) -> list[list[tuple[str, bytes]]]:
    consumer = make_consumer(
        settings,
        {"group.id": f"raw-{uuid.uuid4()}", "auto.offset.reset": "earliest"},
    )
    consumer.subscribe([settings.topic(topic)])
    found: list[list[tuple[str, bytes]]] = []
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline and len(found) < expected:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                found.append(list(message.headers() or []))  # type: ignore[arg-type]
    finally:
        consumer.close()
    return found
