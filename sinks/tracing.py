"""The sinks' spans: a result's storage (its PUTs) and an event's webhook delivery.

Each is a child of the publish span its event's ``traceparent`` names (see
``diffstream.tracing``); with tracing off both return at once and cost nothing.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Tracer

from diffstream import tracing
from sinks.delivery import Delivery, DeliveryResult


def storage_spans(tracer: Tracer | None, results: Sequence[dict[str, Any]]) -> list[Span]:
    """One ``storage`` span per result of a batch, started now (end them with
    ``tracing.finish_all`` once the batch is stored, or failed)."""
    if tracer is None:
        return []
    spans = []
    for result in results:
        attributes: tracing.Attributes = {
            "diffstream.request_id": str(result["request_id"]),
            "diffstream.images": len(result["images"]),
        }
        spans.append(_client_span(tracer, "storage", result["request"], attributes))
    return spans


def traced_delivery(
    tracer: Tracer | None,
    record: dict[str, Any],
    delivery: Delivery,
    deliver: Coroutine[Any, Any, DeliveryResult],
) -> Coroutine[Any, Any, DeliveryResult]:
    """``deliver`` inside a ``webhook delivery`` span (``deliver`` itself when tracing is off)."""
    if tracer is None:
        return deliver
    return _traced(tracer, record, delivery, deliver)


async def _traced(
    tracer: Tracer,
    record: dict[str, Any],
    delivery: Delivery,
    deliver: Coroutine[Any, Any, DeliveryResult],
) -> DeliveryResult:
    attributes: tracing.Attributes = {
        "diffstream.request_id": str(record.get("request_id")),
        "diffstream.webhook_id": delivery.webhook_id,
    }
    span = _client_span(tracer, "webhook delivery", record.get("context") or {}, attributes)
    try:
        # Current while it runs: the delivery's log lines carry the trace id.
        with trace.use_span(span, end_on_exit=False):
            result = await deliver
    except BaseException as error:
        tracing.finish(span, error=error)
        raise
    span.set_attributes(
        {"diffstream.outcome": result.outcome, "diffstream.attempts": result.attempts}
    )
    tracing.finish(span, error=None if result.outcome == "delivered" else result.detail)
    return result


def _client_span(
    tracer: Tracer, name: str, carrier: Mapping[str, Any], attributes: tracing.Attributes
) -> Span:
    """A CLIENT span ``name``, child of the publish span whose ``traceparent`` (and
    ``tracestate``) ``carrier`` holds."""
    span = tracing.start(
        tracer,
        name,
        traceparent=carrier.get("traceparent"),
        tracestate=carrier.get("tracestate"),
        kind=SpanKind.CLIENT,
        attributes=attributes,
    )
    assert span is not None  # a tracer was given
    return span
