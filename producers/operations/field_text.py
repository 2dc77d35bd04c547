"""Turn text (CSV cells, ``--set FIELD=VALUE``) into GenerationRequest field values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from producers.exceptions import InputError
from schemas.validation import request_fields

_INTS = frozenset({"width", "height", "steps", "num_images", "priority", "seed"})
_FLOATS = frozenset({"guidance_scale"})
_TIMES = frozenset({"deadline", "submitted_at"})
_OPTIONAL = frozenset(
    {"revision", "negative_prompt", "seed", "scheduler", "deadline", "callback", "tenant"}
    | {"traceparent", "tracestate", "batch_id", "lineage"}
)
# Callbacks given as a bare URL are told about the final outcome.
DEFAULT_CALLBACK_EVENTS = ("completed", "failed")


def coerce(field: str, text: str) -> Any:
    """The value of ``field`` written as ``text``; ``InputError`` names the field and why."""
    if field not in request_fields():
        known = ", ".join(sorted(request_fields()))
        raise InputError(f"{field!r} is not a GenerationRequest field (known: {known})")
    text = text.strip()
    if text == "" and field in _OPTIONAL:
        return None
    try:
        if field in _INTS:
            return int(text)
        if field in _FLOATS:
            return float(text)
        if field in _TIMES:
            return parse_time(text)
        if field == "labels":
            labels = json.loads(text) if text else {}
            if not isinstance(labels, dict):
                raise ValueError("expected a JSON object")
            return {str(k): str(v) for k, v in labels.items()}
        if field == "callback":
            return callback(text)
    except (ValueError, json.JSONDecodeError) as exc:
        raise InputError(f"{field}={text!r}: {exc}") from None
    return text


def callback(value: object) -> dict[str, Any]:
    """A Callback record from a URL or a JSON object ``{"url": ..., "events": [...]}``."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        value = json.loads(value)
    if isinstance(value, str):
        return {"url": value, "events": list(DEFAULT_CALLBACK_EVENTS)}
    if isinstance(value, dict) and "url" in value:
        return {"url": value["url"], "events": list(value.get("events", DEFAULT_CALLBACK_EVENTS))}
    raise ValueError("expected a URL or an object with a url")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (``Z`` or an offset; naive means UTC)."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def assignment(text: str) -> tuple[str, str]:
    """``FIELD=VALUE`` split in two; ``InputError`` when there is no ``=``."""
    field, sep, value = text.partition("=")
    if not sep or not field.strip():
        raise InputError(f"expected FIELD=VALUE, got {text!r}")
    return field.strip(), value
