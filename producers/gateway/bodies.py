"""Request bodies into GenerationRequest records, with every problem reported at once.

Errors are ``{"field", "limit", "message"}`` items from the shared validator (the same
rules the processors apply); the transport's own problems (size, content type, JSON)
name the body. A client never sets the fields the gateway owns (id, tenant, batch, ...).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from starlette.requests import Request

from diffstream.request_limits import RequestLimits
from producers.gateway.exceptions import BadBodyError
from producers.operations.field_text import DEFAULT_CALLBACK_EVENTS, parse_time
from schemas.builders import new_request
from schemas.exceptions import FieldError
from schemas.validation import request_fields, validate_request

# Fixed forever: Idempotency-Key ids must stay the same across releases.
IDEMPOTENCY_NAMESPACE = uuid.UUID("8a4c2a52-6f0e-4f7e-9d0c-2b8e1f5a3c71")
GATEWAY_FIELDS = frozenset(
    {"request_id", "submitted_at", "tenant", "traceparent", "tracestate", "batch_id", "lineage"}
)


def client_fields() -> frozenset[str]:
    """The GenerationRequest fields a client may send."""
    return request_fields() - GATEWAY_FIELDS


_CLIENT_FIELDS = client_fields()


class InvalidBody(Exception):  # noqa: N818 (answered as 422, never raised to callers)
    """The body broke one or more rules; ``errors`` lists them all."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


def error_items(errors: list[FieldError]) -> list[dict[str, str]]:
    """The JSON form of field errors."""
    return [{"field": e.field, "limit": str(e.limit), "message": e.message} for e in errors]


async def read_body(request: Request, max_bytes: int, media_types: tuple[str, ...]) -> bytes:
    """The raw body, refused (413/415) before it is parsed when too big or of another type."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in media_types:
        raise BadBodyError(
            415,
            f"content-type {media or '(none)'!r} is not accepted here: send "
            f"{' or '.join(media_types)}",
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BadBodyError(413, f"the body has {declared} bytes; the limit is {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BadBodyError(413, f"the body is over the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; 400 when it is not JSON, 422 when not an object."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        where = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        raise BadBodyError(400, f"the body is not valid JSON: {where}") from None
    except UnicodeDecodeError:
        raise BadBodyError(400, "the body is not valid JSON: it is not UTF-8") from None
    if not isinstance(value, dict):
        problem = f"the body is a JSON {type(value).__name__}; send an object with a prompt"
        raise InvalidBody([FieldError("body", type(value).__name__, "a JSON object", problem)])
    return value


def build_request(
    fields: Mapping[str, Any],
    *,
    request_id: str,
    tenant: str,
    limits: RequestLimits,
    traceparent: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A complete, validated GenerationRequest from a client's fields; ``InvalidBody`` lists
    every unknown, reserved or invalid field at once."""
    errors: list[FieldError] = []
    allowed = _CLIENT_FIELDS or client_fields()
    for name in fields:
        if name in GATEWAY_FIELDS:
            message = f"{name} is set by the gateway; leave it out of the body"
            errors.append(FieldError(name, fields[name], "set by the gateway", message))
        elif name not in allowed:
            known = ", ".join(sorted(allowed))
            message = f"{name} is not a field of a generation request (known: {known})"
            errors.append(FieldError(name, fields[name], "a known field", message))
    values = {k: _convert(k, v) for k, v in fields.items() if k in allowed}
    if "prompt" not in values:
        errors.append(FieldError("prompt", None, "required", "prompt is missing: say what to draw"))
    prompt = values.pop("prompt", "")
    record = new_request(
        prompt,
        **values,
        request_id=request_id,
        tenant=tenant,
        traceparent=traceparent,
    )
    errors += [
        e
        for e in validate_request(record, limits, now=now)
        if not (e.field == "prompt" and "prompt" not in fields)
    ]
    if errors:
        raise InvalidBody(errors)
    return record


def comparable(record: Mapping[str, Any]) -> dict[str, Any]:
    """The client's part of a request, for telling a repeated PUT from a different one."""
    return {name: _normal(record.get(name)) for name in sorted(client_fields())}


def idempotent_id(tenant: str, key: str) -> str:
    """The request id a tenant's Idempotency-Key stands for."""
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{tenant}\n{key}"))


def _convert(name: str, value: Any) -> Any:
    if name == "deadline" and isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError:
            return value  # the validator names it
    if name == "callback" and isinstance(value, dict) and "events" not in value:
        return {**value, "events": list(DEFAULT_CALLBACK_EVENTS)}
    if name == "callback" and isinstance(value, str):
        return {"url": value, "events": list(DEFAULT_CALLBACK_EVENTS)}
    return value


def _normal(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, Mapping):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    return value
