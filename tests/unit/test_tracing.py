"""diffstream.tracing: nothing is built without an endpoint; with one, spans continue the
event's traceparent (checked against the SDK's in-memory exporter, no collector needed)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode, Tracer

from diffstream import tracing
from diffstream.exceptions import ConfigurationError
from sinks.delivery import Delivery, DeliveryResult
from sinks.tracing import storage_spans, traced_delivery
from tests.unit.fresh_python import run_python

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
OTEL_VARIABLES = (
    tracing.ENDPOINT_ENV,
    tracing.TRACES_ENDPOINT_ENV,
    "OTEL_SDK_DISABLED",
    *tracing.PROTOCOL_ENVS,
)

# A role's modules loaded and their tracers asked for, with no endpoint set: what got imported.
NO_ENDPOINT = """
import sys
from opentelemetry import trace
from diffstream import tracing
from producers.client.publisher import Publisher
import processors.worker, sinks.images, sinks.notify
assert all(tracing.tracer(role) is None for role in ("publisher", "processor", "image-sink"))
assert tracing.providers() == {}, tracing.providers()
assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
heavy = ("opentelemetry.sdk", "opentelemetry.exporter")
loaded = sorted(m for m in sys.modules if m.startswith(heavy))
print(",".join(loaded))
"""


@pytest.fixture(autouse=True)
def no_otel_variables(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    tracing.shutdown()
    yield
    tracing.shutdown()


@pytest.fixture
def memory() -> tuple[Tracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


def test_without_an_endpoint_no_provider_is_built_and_the_sdk_is_never_loaded() -> None:
    env = {k: v for k, v in os.environ.items() if k not in OTEL_VARIABLES}
    result = run_python(NO_ENDPOINT, timeout_s=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"loaded without an endpoint: {result.stdout.strip()}"


def test_without_an_endpoint_every_helper_is_a_no_op() -> None:
    assert not tracing.enabled()
    assert tracing.tracer("processor") is None
    assert tracing.start(None, "publish", traceparent=TRACEPARENT) is None
    tracing.finish(None, error=ValueError("ignored"))
    tracing.record(None, "queue wait", traceparent=None, start_time=_t(0), end_time=_t(1))
    assert storage_spans(None, [{"request": {}, "request_id": "r", "images": []}]) == []
    delivery = Delivery("http://127.0.0.1/hook", "msg_r_completed", b"{}")
    coroutine = _deliver()
    assert traced_delivery(None, {}, delivery, coroutine) is coroutine  # not even wrapped
    coroutine.close()
    assert tracing.providers() == {}


def test_an_endpoint_gives_each_role_a_provider_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(tracing.ENDPOINT_ENV, "http://127.0.0.1:1")
    assert tracing.tracer("processor", "worker-0") is not None
    assert tracing.tracer("image-sink", "sink-0") is not None
    assert tracing.tracer("processor") is not None  # the same provider again
    built = tracing.providers()
    assert sorted(built) == ["image-sink", "processor"]
    attributes = built["processor"].resource.attributes
    assert attributes["service.name"] == "processor"
    assert attributes["service.instance.id"] == "worker-0"
    tracing.shutdown()
    assert tracing.providers() == {}


def test_the_sdk_can_be_turned_off_with_its_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tracing.ENDPOINT_ENV, "http://127.0.0.1:1")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracing.tracer("processor") is None


def test_a_grpc_protocol_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tracing.ENDPOINT_ENV, "http://127.0.0.1:1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(ConfigurationError, match=r"OTEL_EXPORTER_OTLP_PROTOCOL.*http/protobuf"):
        tracing.tracer("processor")


def test_a_span_continues_the_events_traceparent(
    memory: tuple[Tracer, InMemorySpanExporter],
) -> None:
    tracer, exporter = memory
    span = tracing.start(tracer, "storage", traceparent=TRACEPARENT)
    tracing.finish(span)
    (finished,) = exporter.get_finished_spans()
    assert format(finished.context.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert finished.parent is not None
    assert format(finished.parent.span_id, "016x") == "00f067aa0ba902b7"


def test_a_root_span_hands_its_context_on(memory: tuple[Tracer, InMemorySpanExporter]) -> None:
    tracer, exporter = memory
    root = tracing.start(tracer, "publish")
    assert root is not None
    traceparent = tracing.traceparent_of(root)
    tracing.finish(root)
    tracing.finish(tracing.start(tracer, "inference", traceparent=traceparent))
    publish, inference = exporter.get_finished_spans()
    assert publish.parent is None
    assert inference.parent is not None
    assert inference.parent.span_id == publish.context.span_id
    assert tracing.trace_id(traceparent) == format(publish.context.trace_id, "032x")


def test_a_span_of_the_past_keeps_its_times_and_its_error(
    memory: tuple[Tracer, InMemorySpanExporter],
) -> None:
    tracer, exporter = memory
    tracing.record(
        tracer,
        "inference",
        traceparent=TRACEPARENT,
        start_time=_t(0),
        end_time=_t(2.5),
        error=ValueError("out of memory"),
    )
    (span,) = exporter.get_finished_spans()
    assert span.start_time == int(_t(0).timestamp() * 1e9)
    assert span.end_time is not None
    assert span.end_time - span.start_time == pytest.approx(2.5e9, abs=1e3)
    assert span.status.status_code == StatusCode.ERROR
    assert "out of memory" in (span.status.description or "")


def test_a_publish_span_ends_with_its_acknowledgement(
    memory: tuple[Tracer, InMemorySpanExporter],
) -> None:
    tracer, exporter = memory
    acked: Future[None] = Future()
    refused: Future[None] = Future()
    tracing.finish_on(acked, tracing.start(tracer, "publish"))
    tracing.finish_on(refused, tracing.start(tracer, "publish"))
    assert exporter.get_finished_spans() == ()
    acked.set_result(None)
    refused.set_exception(RuntimeError("no leader"))
    ok, failed = exporter.get_finished_spans()
    assert ok.status.status_code == StatusCode.UNSET
    assert failed.status.status_code == StatusCode.ERROR


def test_a_webhook_delivery_span_records_its_outcome(
    memory: tuple[Tracer, InMemorySpanExporter],
) -> None:
    tracer, exporter = memory
    record = {"request_id": "r1", "context": {"traceparent": TRACEPARENT}}
    delivery = Delivery("http://127.0.0.1/hook", "msg_r1_completed", b"{}")
    result = asyncio.run(traced_delivery(tracer, record, delivery, _deliver("gone")))
    assert result.outcome == "gone"
    (span,) = exporter.get_finished_spans()
    assert span.name == "webhook delivery"
    assert span.attributes is not None
    assert span.attributes["diffstream.outcome"] == "gone"
    assert span.status.status_code == StatusCode.ERROR
    assert format(span.context.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"


async def _deliver(outcome: str = "delivered") -> DeliveryResult:
    return DeliveryResult(outcome, 1, "410 Gone")  # type: ignore[arg-type]


def _t(seconds: float) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
