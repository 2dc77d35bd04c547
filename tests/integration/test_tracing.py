"""One request's trace through every role, exported over OTLP/HTTP to a real collector.

The roles run in this process (``RolesThread``: processor with the digits model on the CPU,
image sink, notifier) with ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, and the test follows the
publish span's trace to the webhook delivery, twice: through Jaeger's all-in-one (built from
its Go module, ``infra.deploy.jaeger``) read back over its query API, and through an OTLP/HTTP
endpoint that decodes what the exporter sends (``tests.otlp_receiver``), to the nanosecond.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from diffstream import tracing
from diffstream.settings import Settings
from infra.chaos.load import digits_request
from infra.deploy.jaeger import LocalJaeger
from producers.client.publisher import Publisher
from tests.integration.gateway_support import SEVEN, auth, live_key, running_gateway
from tests.integration.isolation import isolate
from tests.otlp_receiver import ReceivedSpan, receiving_spans
from tests.roles_support import RolesThread
from tests.tracing_support import jaeger_spans
from tests.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.integration

HOPS = {
    "queue wait": "processor",
    "inference": "processor",
    "storage": "image-sink",
    "webhook delivery": "notifier",
}
#: Spans of a trace once every hop's arrived (else AssertionError): the trace id -> spans.
Collected = Callable[[str], list[ReceivedSpan]]


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Sets tracing on to an endpoint; every provider flushed and gone after."""
    tracing.shutdown()
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # ms: spans leave at once

    def to(endpoint: str) -> None:
        monkeypatch.setenv(tracing.ENDPOINT_ENV, endpoint)

    try:
        yield to
    finally:
        tracing.shutdown()


@pytest.mark.jaeger
@pytest.mark.timeout(1200)  # on a fresh machine it may wait for the Jaeger build
def test_one_trace_follows_a_request_through_jaeger(
    settings: Settings, traced: Callable[[str], None]
) -> None:
    with LocalJaeger(settings) as jaeger:
        traced(jaeger.otlp_endpoint)

        def collected(trace_id: str) -> list[ReceivedSpan]:
            deadline = time.monotonic() + 30
            while True:
                spans = jaeger_spans(jaeger.trace(trace_id))
                if {"publish", *HOPS} <= {s.name for s in spans}:
                    return spans
                if time.monotonic() > deadline:
                    raise AssertionError(f"Jaeger has {[s.name for s in spans]} of {trace_id}")
                time.sleep(0.2)

        # Jaeger keeps microseconds: a span's end is its start plus a rounded duration.
        _follow_one_request(settings, collected, tolerance_ns=1_000)


def test_one_trace_follows_a_request_through_an_otlp_endpoint(
    settings: Settings, traced: Callable[[str], None]
) -> None:
    with receiving_spans() as otlp:
        traced(otlp.endpoint)
        _follow_one_request(
            settings, lambda trace_id: otlp.wait_for(trace_id, {"publish", *HOPS}, 30)
        )


def test_a_gateway_submit_continues_the_callers_trace(
    settings: Settings, traced: Callable[[str], None]
) -> None:
    client_trace, client_span = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    own = isolate(settings)
    with receiving_spans() as otlp:
        traced(otlp.endpoint)
        roles = RolesThread(own).start()
        try:
            with running_gateway(own) as base, httpx.Client(base_url=base, timeout=30) as client:
                key = live_key(client, own, "tracing")
                headers = {**auth(key), "traceparent": f"00-{client_trace}-{client_span}-01"}
                answer = client.post("/v1/generations", json=SEVEN, headers=headers)
                assert answer.status_code == 202, answer.text
                spans = otlp.wait_for(client_trace, {"publish", "inference", "storage"}, 120)
        finally:
            roles.finish()
        assert not roles.failures, roles.failures
    hop = {span.name: span for span in spans}
    publish = hop["publish"]
    assert publish.service == "gateway"
    assert publish.parent_span_id == client_span, "the gateway did not continue the caller's span"
    assert publish.attributes["diffstream.request_id"] == answer.json()["id"]
    for name in ("queue wait", "inference", "storage"):
        assert hop[name].parent_span_id == publish.span_id, f"{name} is not a child of publish"


def _follow_one_request(settings: Settings, collected: Collected, tolerance_ns: int = 0) -> None:
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
            # The webhook's body names the request; the event's traceparent names the trace.
            trace_id = tracing.trace_id(_traceparent(hooks, request_id))
            assert trace_id is not None, "the completed event carries no traceparent"
            spans = collected(trace_id)
        finally:
            roles.finish()
        assert not roles.failures, roles.failures
    _check_trace(spans, request_id, own, tolerance_ns)


def _traceparent(hooks: Receiver, request_id: str) -> str | None:
    body = json.loads(hooks.received[0].body)
    data = body["data"]
    assert data["request_id"] == request_id, body
    traceparent = (data.get("context") or {}).get("traceparent")
    return str(traceparent) if traceparent else None


def _check_trace(
    spans: list[ReceivedSpan], request_id: str, own: Settings, tolerance_ns: int
) -> None:
    by_name: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    assert sorted(by_name) == sorted({"publish", *HOPS}), by_name
    assert all(len(found) == 1 for found in by_name.values()), by_name
    hop = {name: found[0] for name, found in by_name.items()}
    # The root: the client's publish, which wrote its context into the event.
    publish = hop["publish"]
    assert publish.service == "publisher"
    assert publish.parent_span_id == "", "publish is not the root"
    assert publish.attributes["diffstream.request_id"] == request_id
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
    assert abs(hop["queue wait"].end_ns - hop["inference"].start_ns) <= tolerance_ns
    assert hop["inference"].end_ns <= hop["storage"].start_ns + tolerance_ns
    assert hop["storage"].end_ns <= hop["webhook delivery"].start_ns + tolerance_ns
    assert hop["queue wait"].start_ns <= publish.end_ns  # queued from its submitted_at on
    # Each role is a service of its own, named with its instance.
    assert hop["inference"].instance == own.processor.instance_id
    assert hop["storage"].instance == own.sink.instance_id
