"""Jaeger's view of a trace as the spans ``tests.otlp_receiver`` collects, to check both alike."""

from __future__ import annotations

from typing import Any

from tests.otlp_receiver import ReceivedSpan

MICROS = 1_000


def _tags(tags: list[dict[str, Any]]) -> dict[str, object]:
    return {tag["key"]: tag["value"] for tag in tags}


def jaeger_spans(trace: dict[str, Any] | None) -> list[ReceivedSpan]:
    """The spans of a trace from Jaeger's query API (``/api/traces/<id>``); [] for None."""
    if trace is None:
        return []
    processes = trace.get("processes") or {}
    spans = []
    for span in trace.get("spans") or []:
        process = processes.get(span["processID"]) or {}
        resource = _tags(process.get("tags") or [])
        tags = _tags(span.get("tags") or [])
        parents = [r["spanID"] for r in span.get("references") or [] if r["refType"] == "CHILD_OF"]
        start_ns = int(span["startTime"]) * MICROS
        spans.append(
            ReceivedSpan(
                service=str(process.get("serviceName")),
                instance=str(resource.get("service.instance.id")),
                name=span["operationName"],
                trace_id=span["traceID"].rjust(32, "0"),
                span_id=span["spanID"],
                parent_span_id=parents[0] if parents else "",
                start_ns=start_ns,
                end_ns=start_ns + int(span["duration"]) * MICROS,
                attributes=tags,
                error=tags.get("error") is True or tags.get("otel.status_code") == "ERROR",
            )
        )
    return spans
