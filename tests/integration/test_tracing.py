"""One request's trace through every role, exported over OTLP/HTTP to a real receiver.

The roles run in this process (``RolesThread``: processor with the digits model on the CPU,
image sink, notifier) with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at an OTLP/HTTP endpoint
on 127.0.0.1 that decodes what the SDK's exporter sends (``tests.otlp_receiver``); the test
follows the publish span's trace to the webhook delivery.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from diffstream import tracing
from diffstream.settings import Settings
from infra.chaos.load import digits_request
from producers.client.publisher import Publisher
from tests.integration.isolation import isolate
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan, receiving_spans
from tests.roles_support import RolesThread
from tests.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.integration

HOPS = {
    "queue wait": "processor",
    "inference": "processor",
    "storage": "image-sink",
    "webhook delivery": "notifier",
}


@pytest.fixture
def otlp(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    """Tracing on, to a receiver of this test's own; every provider flushed and gone after."""
    with receiving_spans() as receiver:
        tracing.shutdown()
        monkeypatch.setenv(tracing.ENDPOINT_ENV, receiver.endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # ms: spans leave at once
        try:
            yield receiver
        finally:
            tracing.shutdown()


def test_one_trace_follows_a_request_from_publish_to_its_webhook(
    settings: Settings, otlp: OtlpReceiver
) -> None:
    own = isolate(settings)
    hooks = Receiver()
    with receiving(hooks):
        roles = RolesThread(own).start()
        try:
            record = digits_request(3, callback={"url": hooks.url, "events": ["completed"]})
            with Publisher(own) as publisher:
                request_id = publisher.publish(record)
                publisher.wait(request_id, 180)
            deadline = time.monotonic() + 30
            while not hooks.received and time.monotonic() < deadline:
                time.sleep(0.05)
            assert hooks.received, "the webhook was never delivered"
            publish = _publish_span(otlp, request_id)
            spans = otlp.wait_for(publish.trace_id, set(HOPS), timeout_s=30)
        finally:
            roles.finish()
        assert not roles.failures, roles.failures

    by_name: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    assert sorted(by_name) == sorted({"publish", *HOPS}), by_name
    assert all(len(found) == 1 for found in by_name.values()), by_name
    hop = {name: found[0] for name, found in by_name.items()}
    # The root: the client's publish, which wrote its context into the event.
    assert publish.service == "publisher"
    assert publish.parent_span_id == ""
    for name, service in HOPS.items():
        span = hop[name]
        assert span.service == service, span
        assert span.parent_span_id == publish.span_id, f"{name} is not a child of publish"
        assert span.attributes["diffstream.request_id"] == request_id
        assert not span.error, span
        assert span.start_ns <= span.end_ns, span
    assert hop["webhook delivery"].attributes["diffstream.outcome"] == "delivered"
    # The stages follow each other: queued until inference starts, stored after it ends,
    # delivered after the completed event (written once stored) was read.
    assert hop["queue wait"].end_ns == hop["inference"].start_ns
    assert hop["inference"].end_ns <= hop["storage"].start_ns
    assert hop["storage"].end_ns <= hop["webhook delivery"].start_ns
    assert hop["queue wait"].start_ns <= publish.end_ns  # queued from its submitted_at on
    # Each role is a service of its own, named with its instance.
    assert hop["inference"].instance == own.processor.instance_id
    assert hop["storage"].instance == own.sink.instance_id


def _publish_span(otlp: OtlpReceiver, request_id: str, timeout_s: float = 10.0) -> ReceivedSpan:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with otlp.lock:
            found = [
                s
                for s in otlp.spans
                if s.name == "publish" and s.attributes.get("diffstream.request_id") == request_id
            ]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no publish span of {request_id} arrived")
