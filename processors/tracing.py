"""The processor's spans of one request: its wait in the queue and its inference.

Both are recorded once the cycle's inference is over, with explicit times, as children of the
publish span the request's ``traceparent`` names (see ``diffstream.tracing``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opentelemetry.trace import Tracer

from diffstream import tracing
from processors.inference import Outcome, PassFailure


def trace_request(  # noqa: PLR0917  # one call site, read positionally
    tracer: Tracer | None,
    request: dict[str, Any],
    started: datetime,
    finished: datetime,
    outcome: Outcome,
    cycle_requests: int,
) -> None:
    """Queue wait (from its ``submitted_at`` to the start of its cycle's inference) and
    inference (the cycle's, which ran its batch: ``cycle_requests`` requests)."""
    if tracer is None:
        return
    parent = {"traceparent": request.get("traceparent"), "tracestate": request.get("tracestate")}
    attributes = {
        "diffstream.request_id": str(request["request_id"]),
        "diffstream.lane": str(request.get("lane")),
    }
    tracing.record(
        tracer,
        "queue wait",
        **parent,
        start_time=request["submitted_at"],
        end_time=started,
        attributes=attributes,
    )
    failure = outcome.error if isinstance(outcome, PassFailure) else None
    tracing.record(
        tracer,
        "inference",
        **parent,
        start_time=started,
        end_time=finished,
        attributes={
            **attributes,
            "diffstream.model": str(request.get("model") or ""),
            "diffstream.cycle_requests": cycle_requests,
            "diffstream.num_images": int(request.get("num_images") or 1),
        },
        error=failure,
    )
