"""Builders of the two events about a request in flight: a cancel that steers it and the
progress that reports it (see ``schemas.builders`` for the rest)."""

from __future__ import annotations

from typing import Any

from schemas.builders import now_millis
from schemas.records import GenerationCancel, GenerationProgress, RequestId


def new_cancel(
    request_id: RequestId,
    *,
    reason: str | None = None,
    tenant: str | None = None,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """A GenerationCancel: asks that ``request_id`` not run (``tenant`` must match its own)."""
    record = GenerationCancel(
        request_id=request_id,
        requested_at=now_millis(),
        reason=reason,
        tenant=tenant,
        traceparent=traceparent,
    )
    return {**record}


def new_progress(
    request_id: RequestId, *, step: int, steps: int, attempt: int, model: str | None
) -> dict[str, Any]:
    """A GenerationProgress: ``step`` of ``steps`` denoising steps are done."""
    record = GenerationProgress(
        request_id=request_id,
        step=step,
        steps=steps,
        attempt=attempt,
        updated_at=now_millis(),
        model=model,
    )
    return {**record}
