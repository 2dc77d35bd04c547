"""Build event records with sensible defaults, for producers, tests and the CLI."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from schemas.events import ErrorCode
from schemas.exceptions import FieldError, ValidationError
from schemas.validation import request_fields

DEFAULT_MODEL = "tiny-sd"


def now_millis() -> datetime:
    """The current UTC time cut to milliseconds, the precision of ``timestamp-millis``.

    Cutting it here makes a record compare equal to itself after an Avro round trip.
    """
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_request(prompt: str, *, model: str = DEFAULT_MODEL, **overrides: Any) -> dict[str, Any]:
    """A complete GenerationRequest record: a fresh request_id, submitted_at now, defaults
    for the rest, then ``overrides``. It is not validated: call ``check_request`` on it.

    An override that is not a GenerationRequest field raises ``ValidationError``.
    """
    record: dict[str, Any] = {
        # A fresh id only when none is given (os.urandom costs a GIL round trip).
        "request_id": overrides.get("request_id") or uuid.uuid4(),
        "submitted_at": now_millis(),
        "model": model,
        "revision": None,
        "prompt": prompt,
        "negative_prompt": None,
        "width": 512,
        "height": 512,
        "steps": 25,
        "guidance_scale": 7.5,
        "seed": None,
        "num_images": 1,
        "scheduler": None,
        "output_format": "png",
        "lane": "interactive",
        "priority": 0,
        "deadline": None,
        "callback": None,
        "tenant": None,
        "labels": {},
        "traceparent": None,
        "tracestate": None,
        "batch_id": None,
        "lineage": None,
    }
    known = request_fields()
    unknown = [
        FieldError(key, value, "a GenerationRequest field", f"{key}={value!r} is unknown")
        for key, value in overrides.items()
        if key not in known
    ]
    if unknown:
        raise ValidationError(unknown)
    record.update(overrides)
    return record


def request_context(request: Mapping[str, Any]) -> dict[str, Any]:
    """The RequestContext of a request record, for Completed and Failed events."""
    return {
        "submitted_at": request["submitted_at"],
        "lane": request.get("lane", "interactive"),
        "priority": request.get("priority", 0),
        "tenant": request.get("tenant"),
        "labels": dict(request.get("labels") or {}),
        "batch_id": request.get("batch_id"),
        "callback": request.get("callback"),
        "traceparent": request.get("traceparent"),
        "tracestate": request.get("tracestate"),
    }


def source_coordinates(topic: str, partition: int, offset: int) -> dict[str, Any]:
    """A SourceCoordinates record."""
    return {"topic": topic, "partition": partition, "offset": offset}


def new_failed(
    request_id: uuid.UUID | str,
    error_code: ErrorCode | str,
    message: str,
    *,
    retryable: bool = False,
    attempt: int = 1,
    field_errors: Iterable[FieldError] = (),
    model: str | None = None,
    source: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A GenerationFailed record; ``field_errors`` come from ``validate_request``."""
    return {
        "request_id": request_id,
        "failed_at": now_millis(),
        "error_code": str(ErrorCode(error_code)),
        "message": message,
        "retryable": retryable,
        "attempt": attempt,
        "field_errors": [{"field": e.field, "message": e.message} for e in field_errors],
        "model": model,
        "source": dict(source) if source is not None else None,
        "context": dict(context) if context is not None else None,
    }


def invalid_request_failed(
    request: Mapping[str, Any],
    errors: Iterable[FieldError],
    *,
    source: Mapping[str, Any] | None = None,
    attempt: int = 1,
) -> dict[str, Any]:
    """The GenerationFailed ``invalid_request`` a processor emits for a request that fails
    ``validate_request``; works on any decoded record, valid fields or not."""
    errors = list(errors)
    model = request.get("model")
    context: dict[str, Any] | None
    try:
        context = request_context(request)
    except (KeyError, TypeError, ValueError):
        context = None
    return new_failed(
        request.get("request_id") or uuid.UUID(int=0),
        ErrorCode.INVALID_REQUEST,
        "; ".join(e.message for e in errors)[:2000] or "invalid request",
        retryable=False,
        attempt=attempt,
        field_errors=errors,
        model=model if isinstance(model, str) else None,
        source=source,
        context=context,
    )


def new_cancel(
    request_id: uuid.UUID | str,
    *,
    tenant: str | None = None,
    reason: str | None = None,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """A GenerationCancel record, asked for now."""
    return {
        "request_id": request_id,
        "requested_at": now_millis(),
        "reason": reason,
        "tenant": tenant,
        "traceparent": traceparent,
    }
