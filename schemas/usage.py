"""GenerationUsage: the builder, and what a terminal outcome is metered as.

A usage event is written beside every GenerationCompleted and GenerationFailed a role makes,
in the same transaction, so ``diffusion.usage`` holds exactly one per outcome event even when
a role is killed mid-batch. Only the roles that decide outcomes write them (the processor and
the image sink); the notifier and dead-letter redrives never do, so a redriven webhook is not
metered twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from schemas.events import ErrorCode, Lane, UsageOutcome
from schemas.records import GenerationUsage
from schemas.topics import REQUESTS_BATCH

_OUTCOMES = {
    ErrorCode.CANCELLED: UsageOutcome.CANCELLED,
    ErrorCode.EXPIRED: UsageOutcome.EXPIRED,
    ErrorCode.EXPIRED_IN_TRANSIT: UsageOutcome.EXPIRED,
}


def outcome_of(error_code: str | None) -> UsageOutcome:
    """The metered outcome of a failure's ``error_code`` (None: completed)."""
    if error_code is None:
        return UsageOutcome.COMPLETED
    try:
        return _OUTCOMES.get(ErrorCode(error_code), UsageOutcome.FAILED)
    except ValueError:
        return UsageOutcome.FAILED


def lane_of(source_topic: str | None) -> Lane:
    """The lane of a request read from ``source_topic`` (under any topic prefix)."""
    batch = source_topic is not None and source_topic.endswith(REQUESTS_BATCH)
    return Lane.BATCH if batch else Lane.INTERACTIVE


def new_usage(
    request: Mapping[str, Any],
    *,
    recorded_at: datetime,
    lane: Lane | str,
    error_code: str | None = None,
    model: str | None = None,
    revision: str | None = None,
    images: Iterable[Mapping[str, Any]] = (),
    accelerator_s: float = 0.0,
    queue_s: float | None = None,
) -> dict[str, Any]:
    """The GenerationUsage of ``request``'s outcome: ``images`` are the delivered ones
    (width and height each), ``queue_s`` defaults to submitted_at until ``recorded_at``.
    Works on any decoded request, invalid fields included (they are left out)."""
    steps = request.get("steps")
    steps = steps if isinstance(steps, int) and steps > 0 else 0
    delivered = [(int(i["width"]), int(i["height"])) for i in images]
    if queue_s is None:
        submitted = request.get("submitted_at")
        queue_s = 0.0
        if isinstance(submitted, datetime) and submitted.tzinfo is not None:
            queue_s = (recorded_at - submitted).total_seconds()
    record = GenerationUsage(
        request_id=request["request_id"],
        recorded_at=recorded_at,
        outcome=str(outcome_of(error_code)),
        error_code=error_code,
        tenant=_text(request.get("tenant")),
        model=model if model is not None else _text(request.get("model")),
        revision=revision if revision is not None else _text(request.get("revision")),
        lane=str(Lane(lane)),
        batch_id=_text(request.get("batch_id")),
        images=len(delivered),
        pixel_steps=sum(width * height * steps for width, height in delivered),
        accelerator_s=max(accelerator_s, 0.0),
        queue_s=max(queue_s, 0.0),
    )
    return {**record}


def failed_usage(
    request: Mapping[str, Any],
    failed: Mapping[str, Any],
    *,
    lane: Lane | str,
    queue_s: float | None = None,
) -> dict[str, Any]:
    """The usage of a GenerationFailed: nothing delivered, no accelerator time charged."""
    return new_usage(
        request,
        recorded_at=failed["failed_at"],
        lane=lane,
        error_code=failed["error_code"],
        model=failed.get("model"),
        queue_s=queue_s,
    )


def completed_usage(result: Mapping[str, Any], completed: Mapping[str, Any]) -> dict[str, Any]:
    """The usage of the GenerationCompleted made from ``result``. A v1 result carries no
    share of its calls' time: its inference time (the whole calls') stands in."""
    share = result.get("accelerator_s")
    return new_usage(
        result["request"],
        recorded_at=completed["completed_at"],
        lane=lane_of(result["source"]["topic"]),
        model=result["model"],
        revision=result.get("revision"),
        images=result["images"],
        accelerator_s=share if share is not None else result["timings"]["inference_s"],
        queue_s=result["timings"]["queued_s"],
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
