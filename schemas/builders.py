"""One builder per event (and per nested record), the only place event records are made
(with ``schemas.signals`` for cancel and progress, ``schemas.usage`` for usage).

Each builder constructs the record's ``TypedDict`` from ``schemas.records``, so mypy checks
every key and value against the types a unit test checks against the ``.avsc`` files. They
return plain ``dict[str, Any]``, the same type the codec decodes to, so that a built record
and a decoded one travel through the roles alike. Nested values are rebuilt field by field,
which also turns a missing field into a ``KeyError`` at the builder, not in the encoder.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

from schemas.events import ErrorCode, RequestState
from schemas.exceptions import FieldError, ValidationError
from schemas.fingerprint import request_fingerprint
from schemas.records import (
    Callback,
    FieldProblem,
    GeneratedImage,
    GenerationCompleted,
    GenerationFailed,
    GenerationRequest,
    GenerationResult,
    Lineage,
    RequestContext,
    RequestId,
    RequestStatus,
    SourceCoordinates,
    StoredImage,
    Timings,
)
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
    return {**_context(request)}


def source_coordinates(topic: str, partition: int, offset: int) -> dict[str, Any]:
    """A SourceCoordinates record."""
    return {**SourceCoordinates(topic=topic, partition=partition, offset=offset)}


def lineage(
    original_request_id: RequestId, *, topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """The Lineage of a replayed request: the event it was replayed from."""
    record = Lineage(
        original_request_id=original_request_id, topic=topic, partition=partition, offset=offset
    )
    return {**record}


def timings(
    *,
    queued_s: float,
    inference_s: float,
    storage_s: float | None = None,
    end_to_end_s: float | None = None,
) -> dict[str, Any]:
    """A Timings record; storage and end-to-end stay None until the image sink knows them."""
    return {
        **Timings(
            queued_s=queued_s,
            inference_s=inference_s,
            storage_s=storage_s,
            end_to_end_s=end_to_end_s,
        )
    }


def generated_image(
    *, index: int, data: bytes, content_type: str, width: int, height: int, seed: int
) -> GeneratedImage:
    """A GeneratedImage record (one image of a GenerationResult, bytes included)."""
    return GeneratedImage(
        index=index, data=data, content_type=content_type, width=width, height=height, seed=seed
    )


def stored_image(
    image: Mapping[str, Any],
    *,
    uri: str,
    sha256: str,
    size_bytes: int,
    url: str | None = None,
    url_expires_at: datetime | None = None,
) -> dict[str, Any]:
    """The StoredImage of a generated ``image`` once the object store holds it; ``url`` is
    one a browser opens without credentials (presigned ones expire at ``url_expires_at``)."""
    fields = {"uri": uri, "sha256": sha256, "size_bytes": size_bytes}
    return {**_stored({**image, **fields, "url": url, "url_expires_at": url_expires_at})}


def new_result(
    request: Mapping[str, Any],
    *,
    attempt: int,
    model: str,
    revision: str | None,
    images: Iterable[Mapping[str, Any]],
    timings: Mapping[str, Any],
    source: Mapping[str, Any],
    accelerator_s: float | None = None,
) -> dict[str, Any]:
    """A GenerationResult: a request's generated images, carrying the request itself, and
    ``accelerator_s``, its share of the pipeline calls' time (for ``schemas.usage``)."""
    record = GenerationResult(
        request_id=request["request_id"],
        attempt=attempt,
        produced_at=now_millis(),
        model=model,
        revision=revision,
        images=[_generated(image) for image in images],
        timings=_timings(timings),
        accelerator_s=accelerator_s,
        source=_source(source),
        # The decoded (or built) request travels on as it is: the codec checks it on encode.
        request=cast(GenerationRequest, request),
    )
    return {**record}


def new_completed(
    result: Mapping[str, Any],
    images: Iterable[Mapping[str, Any]],
    *,
    storage_s: float,
    completed_at: datetime | None = None,
) -> dict[str, Any]:
    """The GenerationCompleted of a GenerationResult whose ``images`` (StoredImage records,
    in the result's order) the object store now holds, ``storage_s`` after storing began."""
    completed_at = completed_at or now_millis()
    request = result["request"]
    end_to_end = (completed_at - request["submitted_at"].astimezone(UTC)).total_seconds()
    record = GenerationCompleted(
        request_id=result["request_id"],
        completed_at=completed_at,
        attempt=result["attempt"],
        model=result["model"],
        revision=result.get("revision"),
        images=[_stored(image) for image in images],
        timings=_timings(
            {**result["timings"], "storage_s": storage_s, "end_to_end_s": max(end_to_end, 0.0)}
        ),
        source=_source(result["source"]),
        context=_context(request),
    )
    return {**record}


def new_failed(
    request_id: RequestId,
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
    record = GenerationFailed(
        request_id=request_id,
        failed_at=now_millis(),
        error_code=str(ErrorCode(error_code)),
        message=message,
        retryable=retryable,
        attempt=attempt,
        field_errors=[FieldProblem(field=e.field, message=e.message) for e in field_errors],
        model=model,
        source=_source(source) if source is not None else None,
        context=_context(context) if context is not None else None,
    )
    return {**record}


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
    context: dict[str, Any] | None
    try:
        context = request_context(request)
    except (KeyError, TypeError, ValueError):
        context = None
    if context is not None and any(e.field.split(".")[0] == "callback" for e in errors):
        # A callback that broke the rules is never called, and its URL (credentials, say)
        # is not repeated in the public failed event; field_errors say what was wrong.
        context["callback"] = None
    return new_failed(
        request.get("request_id") or uuid.UUID(int=0),
        ErrorCode.INVALID_REQUEST,
        "; ".join(e.message for e in errors)[:2000] or "invalid request",
        retryable=False,
        attempt=attempt,
        field_errors=errors,
        model=_text(request.get("model")),
        source=source,
        context=context,
    )


def new_status(
    request: Mapping[str, Any],
    state: RequestState | str,
    *,
    attempt: int = 1,
    source: Mapping[str, Any] | None = None,
    failed: Mapping[str, Any] | None = None,
    model: str | None = None,
    image_uris: Iterable[str] = (),
    updated_at: datetime | None = None,
) -> dict[str, Any]:
    """The RequestStatus of ``request`` in ``state``; a ``failed`` record gives its error code
    and message. Request fields of the wrong type (an invalid request) are left out.

    The request's callback is carried when it asks for ``status`` events, so the notifier can
    call it from the status topic alone; with ``failed``, the failed event's callback is
    taken instead (None there when the callback itself broke the request rules)."""
    record = RequestStatus(
        request_id=request["request_id"],
        state=str(RequestState(state)),
        updated_at=updated_at or now_millis(),
        attempt=attempt,
        model=model if model is not None else _text(request.get("model")),
        tenant=_text(request.get("tenant")),
        batch_id=_text(request.get("batch_id")),
        error_code=failed["error_code"] if failed else None,
        message=failed["message"] if failed else None,
        image_uris=list(image_uris),
        source=_source(source) if source is not None else None,
        fingerprint=request_fingerprint(request),
        callback=_status_callback((failed.get("context") or {}) if failed is not None else request),
    )
    return {**record}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _source(source: Mapping[str, Any]) -> SourceCoordinates:
    return cast(SourceCoordinates, _fields(SourceCoordinates, source))


def _timings(timings: Mapping[str, Any]) -> Timings:
    # storage_s and end_to_end_s stay None until the image sink knows them.
    return cast(Timings, _fields(Timings, {"storage_s": None, "end_to_end_s": None, **timings}))


def _generated(image: Mapping[str, Any]) -> GeneratedImage:
    return cast(GeneratedImage, _fields(GeneratedImage, image))


def _stored(image: Mapping[str, Any]) -> StoredImage:
    # A v1 image (no url) stays valid: its url fields are null.
    return cast(StoredImage, _fields(StoredImage, {"url": None, "url_expires_at": None, **image}))


def _fields(record_type: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of the TypedDict ``record_type`` taken from ``values``, in schema order;
    a missing one is a KeyError here rather than an encode error later. Values read from a
    mapping are untyped anyway, so naming each field again would check nothing more."""
    return {name: values[name] for name in record_type.__annotations__}


def _callback(callback: Mapping[str, Any] | None) -> Callback | None:
    if callback is None:
        return None
    return Callback(url=callback["url"], events=[str(e) for e in callback["events"]])


def _status_callback(holder: Mapping[str, Any]) -> Callback | None:
    """``holder``'s callback if it asks for status events (and is shaped like one)."""
    callback = holder.get("callback")
    if not isinstance(callback, Mapping) or not isinstance(callback.get("url"), str):
        return None
    events = callback.get("events")
    if not isinstance(events, list | tuple) or "status" not in [str(e) for e in events]:
        return None
    return _callback(callback)


def _context(request: Mapping[str, Any]) -> RequestContext:
    # A RequestContext's fields are a request's, so this also rebuilds a context given whole.
    return RequestContext(
        submitted_at=request["submitted_at"],
        lane=request.get("lane", "interactive"),
        priority=request.get("priority", 0),
        tenant=request.get("tenant"),
        labels=dict(request.get("labels") or {}),
        batch_id=request.get("batch_id"),
        callback=_callback(request.get("callback")),
        traceparent=request.get("traceparent"),
        tracestate=request.get("tracestate"),
    )
