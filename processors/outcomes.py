"""The events a processor writes for each request: results, failures and status changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from processors.engine.results import TaskResult
from processors.exceptions import ProcessorError
from schemas.builders import (
    new_failed,
    new_result,
    new_status,
    request_context,
    timings,
)
from schemas.events import ErrorCode, RequestState


def result_record(
    request: dict[str, Any],
    result: TaskResult,
    *,
    source: dict[str, Any],
    attempt: int,
    inference_started: datetime,
) -> dict[str, Any]:
    """The GenerationResult of a finished task (images and all)."""
    queued = (inference_started - request["submitted_at"]).total_seconds()
    return new_result(
        request,
        attempt=attempt,
        model=result.model,
        revision=result.revision,
        images=result.images,
        timings=timings(
            queued_s=max(queued, 0.0), inference_s=result.inference_s + result.encode_s
        ),
        source=source,
        accelerator_s=result.accelerator_s,
    )


def inference_failed(
    request: dict[str, Any], error: ProcessorError, *, source: dict[str, Any], attempt: int
) -> dict[str, Any]:
    """The GenerationFailed of a request whose inference kept failing."""
    return new_failed(
        request["request_id"],
        error.code,
        str(error)[:2000],
        retryable=error.retryable,
        attempt=attempt,
        model=request.get("model"),
        source=source,
        context=request_context(request),
    )


def status_record(
    request: dict[str, Any],
    state: RequestState,
    *,
    source: dict[str, Any],
    attempt: int = 1,
    failed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The RequestStatus that follows a request's outcome in the compacted status topic."""
    return new_status(request, state, attempt=attempt, source=source, failed=failed)


def duplicate_failed(request: dict[str, Any], *, source: dict[str, Any]) -> dict[str, Any]:
    """The GenerationFailed of a request published under a request_id that another request
    (with other content) already used."""
    return new_failed(
        request["request_id"],
        ErrorCode.DUPLICATE_REQUEST_ID,
        f"request_id {request['request_id']} was already used by a different request; "
        "publish this one under a new request_id (repeats of the same request are ignored)",
        retryable=False,
        model=request.get("model"),
        source=source,
        context=request_context(request),
    )
