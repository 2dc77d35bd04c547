"""One event of a transaction: a record encoded for its topic, keyed by its request id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from diffstream.loop_contract import Output
from schemas.codec import Codec
from schemas.events import EventName


def event_output(
    codec: Codec,
    topic: str,
    event: EventName,
    record: Mapping[str, Any],
    *,
    trace: Mapping[str, Any] | None = None,
) -> Output:
    """``record`` as ``event`` on ``topic``; ``trace`` (a request) lends its trace context."""
    trace = trace or {}
    return Output(
        topic,
        str(record["request_id"]).encode(),
        codec.encode(event, record, topic=topic),
        codec.headers(
            event, traceparent=trace.get("traceparent"), tracestate=trace.get("tracestate")
        ),
    )
