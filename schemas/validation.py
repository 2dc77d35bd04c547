"""Rules a GenerationRequest must follow beyond its Avro types, with limits from settings.

Producers call this before publishing; processors call it on every decoded request and turn
a failure into GenerationFailed ``invalid_request``. So it accepts any object at all and
returns (or raises, in ``check_request``) only ``FieldError``s / ``ValidationError``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache

from diffstream.request_limits import RequestLimits
from schemas import value_checks
from schemas.catalog import load_catalog
from schemas.events import CallbackEvent, EventName, Lane, OutputFormat
from schemas.exceptions import FieldError, ValidationError
from schemas.prompts import DIGITS_ACCEPTS, DIGITS_MODEL, digit_in_prompt
from schemas.schedulers import SCHEDULERS
from schemas.value_checks import Errors

logger = logging.getLogger(__name__)

_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-.*)?")
_MAX_TRACESTATE_CHARS = 512  # W3C trace-context: 32 members, 512 characters in total
_MAX_TOPIC_CHARS = 249  # Kafka's limit on topic names
_ERRORS_CHARS_IN_LOG = 1000


def validate_request(
    record: object, limits: RequestLimits | None = None, *, now: datetime | None = None
) -> list[FieldError]:
    """Every rule ``record`` breaks (empty when valid); never raises."""
    limits = limits or _default_limits()
    now = now or datetime.now(UTC)
    try:
        return _validate(record, limits, value_checks.aware(now))
    except Exception as exc:  # a validator bug must not crash a processor on a poison event
        logger.exception("request validator failed on a %s", type(record).__name__)
        problem = f"could not be checked: {exc!r}"
        return [value_checks.error("request", type(record).__name__, "a valid request", problem)]


def check_request(
    record: object, limits: RequestLimits | None = None, *, now: datetime | None = None
) -> None:
    """Raise ``ValidationError`` listing every broken rule, if any."""
    errors = validate_request(record, limits, now=now)
    if errors:
        raise ValidationError(errors)


def callback_errors(callback: object, limits: RequestLimits | None = None) -> list[FieldError]:
    """The rules a request's ``callback`` breaks (empty when it may be called)."""
    return _callback("callback", callback, limits or _default_limits(), datetime.now(UTC))


def describe_errors(errors: list[FieldError], max_chars: int = _ERRORS_CHARS_IN_LOG) -> str:
    """The errors' messages in one line for a log, at most ``max_chars`` characters."""
    text = "; ".join(error.message for error in errors) or "no errors"
    if len(text) > max_chars:
        text = f"{text[:max_chars]}... ({len(errors)} errors, {len(text)} characters)"
    return text


@cache
def _default_limits() -> RequestLimits:
    """The limits of a check that names none (frozen settings: one instance serves all)."""
    return RequestLimits()


@cache
def request_fields() -> frozenset[str]:
    """The field names of the newest GenerationRequest schema."""
    return frozenset(f["name"] for f in load_catalog().latest(EventName.REQUEST).raw["fields"])


@cache
def _required_fields() -> frozenset[str]:
    """The fields without an Avro default: a record must carry them."""
    fields = load_catalog().latest(EventName.REQUEST).raw["fields"]
    return frozenset(f["name"] for f in fields if "default" not in f)


def _validate(record: object, limits: RequestLimits, now: datetime) -> Errors:
    if not isinstance(record, Mapping):
        return [
            value_checks.error(
                "request", record, "a record (mapping)", f"is a {type(record).__name__}"
            )
        ]
    names, required = request_fields(), _required_fields()
    errors: Errors = []
    for key in record:
        if key not in names:
            errors.append(
                value_checks.error(str(key), record[key], "a GenerationRequest field", "is unknown")
            )
    for key in sorted(required - set(record)):
        errors.append(value_checks.error(key, None, "required", "is missing"))
    for field, check in _CHECKS.items():
        if field in record:
            errors.extend(check(field, record[field], limits, now))
    width, height = record.get("width"), record.get("height")
    sides_ok = not any(e.field in ("width", "height") for e in errors)
    # Only judge the area of sides that are valid on their own: one error per cause.
    if (
        sides_ok
        and value_checks.is_int(width)
        and value_checks.is_int(height)
        and width * height > limits.max_pixels
    ):
        problem = f"({width}x{height}) is too many pixels"
        errors.append(
            value_checks.error("width*height", width * height, limits.max_pixels, problem)
        )
    errors.extend(_drawable(record, errors))
    return errors


def _drawable(record: Mapping[str, object], errors: Errors) -> Errors:
    """A prompt the requested model cannot draw (only models with a grammar are judged)."""
    prompt = record.get("prompt")
    if record.get("model") != DIGITS_MODEL or not isinstance(prompt, str):
        return []
    if any(e.field == "prompt" for e in errors) or digit_in_prompt(prompt) is not None:
        return []
    problem = f"is not something model {DIGITS_MODEL!r} can draw"
    return [value_checks.error("prompt", prompt, DIGITS_ACCEPTS, problem)]


# ---- rules per field; each returns the errors of one field ----------------------------


def _request_id(field: str, value: object, _l: RequestLimits, _n: datetime) -> Errors:
    return value_checks.uuid_value(field, value)


def _submitted_at(field: str, value: object, _l: RequestLimits, _n: datetime) -> Errors:
    if value_checks.to_datetime(value) is None:
        return [value_checks.error(field, value, "a timestamp", "is not a timestamp")]
    return []


def _model(field: str, value: object, limits: RequestLimits, _n: datetime) -> Errors:
    return value_checks.model_name(field, value, limits.max_model_chars)


def _revision(field: str, value: object, limits: RequestLimits, _n: datetime) -> Errors:
    return [] if value is None else value_checks.model_name(field, value, limits.max_model_chars)


def _prompt(field: str, value: object, limits: RequestLimits, _n: datetime) -> Errors:
    return value_checks.text(
        field, value, limits.max_prompt_chars, allow_blank=False, multiline=True
    )


def _negative_prompt(field: str, value: object, limits: RequestLimits, _n: datetime) -> Errors:
    if value is None:
        return []
    return value_checks.text(
        field, value, limits.max_negative_prompt_chars, allow_blank=True, multiline=True
    )


def _side(field: str, value: object, limits: RequestLimits, _n: datetime) -> Errors:
    if not value_checks.is_int(value):
        problem = "is not an integer"
    elif not limits.min_side <= value <= limits.max_side:
        problem = "is out of range"
    elif value % limits.side_multiple:
        problem = f"is not a multiple of {limits.side_multiple}"
    else:
        return []
    bounds = f"multiple of {limits.side_multiple} in [{limits.min_side}, {limits.max_side}]"
    return [value_checks.error(field, value, bounds, problem)]


def _steps(field: str, value: object, limits: RequestLimits, _n: datetime) -> Errors:
    return value_checks.int_range(field, value, 1, limits.max_steps)


def _num_images(field: str, value: object, limits: RequestLimits, _n: datetime) -> Errors:
    return value_checks.int_range(field, value, 1, limits.max_num_images)


def _guidance_scale(field: str, value: object, limits: RequestLimits, _n: datetime) -> Errors:
    low, high = limits.min_guidance_scale, limits.max_guidance_scale
    if isinstance(value, bool) or not isinstance(value, int | float):
        problem = "is not a number"
    elif not math.isfinite(value):
        problem = "is not finite"
    elif not low <= value <= high:
        problem = "is out of range"
    else:
        return []
    return [value_checks.error(field, value, f"a finite number in [{low}, {high}]", problem)]


def _seed(field: str, value: object, limits: RequestLimits, _n: datetime) -> Errors:
    return [] if value is None else value_checks.int_range(field, value, 0, limits.max_seed)


def _scheduler(field: str, value: object, limits: RequestLimits, _n: datetime) -> Errors:
    known = (
        SCHEDULERS.keys() if limits.schedulers is None else SCHEDULERS.keys() & limits.schedulers
    )
    if value is None or (isinstance(value, str) and value in known):
        return []
    return [value_checks.error(field, value, f"one of {sorted(known)}", "is not a known scheduler")]


def _output_format(field: str, value: object, _l: RequestLimits, _n: datetime) -> Errors:
    return value_checks.symbol(field, value, OutputFormat)


def _lane(field: str, value: object, _l: RequestLimits, _n: datetime) -> Errors:
    return value_checks.symbol(field, value, Lane)


def _priority(field: str, value: object, limits: RequestLimits, _n: datetime) -> Errors:
    return value_checks.int_range(field, value, 0, limits.max_priority)


def _deadline(field: str, value: object, _l: RequestLimits, now: datetime) -> Errors:
    if value is None:
        return []
    when = value_checks.to_datetime(value)
    if when is None:
        return [value_checks.error(field, value, "a timestamp", "is not a timestamp")]
    if when <= now:
        return [
            value_checks.error(field, value, f"after now ({now.isoformat()})", "is in the past")
        ]
    return []


def _callback(field: str, value: object, limits: RequestLimits, _n: datetime) -> Errors:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return [value_checks.error(field, value, "a record with url and events", "is not a record")]
    errors = [
        value_checks.error(f"{field}.{key}", value[key], "url, events", "is unknown")
        for key in value
        if key not in ("url", "events")
    ]
    errors += value_checks.url(f"{field}.url", value.get("url"), limits.max_callback_url_chars)
    events = value.get("events")
    allowed = [e.value for e in CallbackEvent]
    if not isinstance(events, list | tuple) or not events:
        errors.append(
            value_checks.error(
                f"{field}.events", events, f"a non-empty list of {allowed}", "is not"
            )
        )
    else:
        errors += [
            value_checks.error(
                f"{field}.events", event, f"one of {allowed}", "is not a callback event"
            )
            for event in events
            if event not in allowed
        ]
    return errors


def _tenant(field: str, value: object, limits: RequestLimits, _n: datetime) -> Errors:
    return (
        []
        if value is None
        else value_checks.text(field, value, limits.max_tenant_chars, allow_blank=False)
    )


def _batch_id(field: str, value: object, limits: RequestLimits, _n: datetime) -> Errors:
    if value is None:
        return []
    return value_checks.text(field, value, limits.max_batch_id_chars, allow_blank=False)


def _labels(field: str, value: object, limits: RequestLimits, _n: datetime) -> Errors:
    if not isinstance(value, Mapping):
        return [value_checks.error(field, value, "a map of strings", "is not a map")]
    if len(value) > limits.max_labels:
        limit = f"at most {limits.max_labels} labels"
        return [value_checks.error(field, len(value), limit, "has too many labels")]
    errors: Errors = []
    for key, item in value.items():
        name = f"{field}.{value_checks.shown_key(key)}"
        errors += value_checks.text(
            name, key, limits.max_label_key_chars, allow_blank=False, what="key"
        )
        errors += value_checks.text(name, item, limits.max_label_value_chars, allow_blank=True)
    return errors


def _traceparent(field: str, value: object, _l: RequestLimits, _n: datetime) -> Errors:
    if value is None:
        return []
    if not isinstance(value, str) or not _TRACEPARENT.fullmatch(value) or len(value) > 512:
        limit = "a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)"
        return [value_checks.error(field, value, limit, "is malformed")]
    _version, trace_id, span_id = value.split("-")[:3]
    if value.startswith("ff") or set(trace_id) == {"0"} or set(span_id) == {"0"}:
        return [
            value_checks.error(
                field, value, "non-zero trace and span ids, version != ff", "is invalid"
            )
        ]
    return []


def _tracestate(field: str, value: object, _l: RequestLimits, _n: datetime) -> Errors:
    return (
        []
        if value is None
        else value_checks.text(field, value, _MAX_TRACESTATE_CHARS, allow_blank=True)
    )


def _lineage(field: str, value: object, _l: RequestLimits, _n: datetime) -> Errors:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return [value_checks.error(field, value, "a record", "is not a record")]
    keys = ("original_request_id", "topic", "partition", "offset")
    errors = [
        value_checks.error(f"{field}.{k}", value[k], ", ".join(keys), "is unknown")
        for k in value
        if k not in keys
    ]
    errors += value_checks.uuid_value(
        f"{field}.original_request_id", value.get("original_request_id")
    )
    errors += value_checks.text(
        f"{field}.topic", value.get("topic"), _MAX_TOPIC_CHARS, allow_blank=False
    )
    errors += value_checks.int_range(f"{field}.partition", value.get("partition"), 0, _INT32_MAX)
    errors += value_checks.int_range(f"{field}.offset", value.get("offset"), 0, _INT64_MAX)
    return errors


_Check = Callable[[str, object, RequestLimits, datetime], Errors]
_CHECKS: dict[str, _Check] = {
    "request_id": _request_id,
    "submitted_at": _submitted_at,
    "model": _model,
    "revision": _revision,
    "prompt": _prompt,
    "negative_prompt": _negative_prompt,
    "width": _side,
    "height": _side,
    "steps": _steps,
    "guidance_scale": _guidance_scale,
    "seed": _seed,
    "num_images": _num_images,
    "scheduler": _scheduler,
    "output_format": _output_format,
    "lane": _lane,
    "priority": _priority,
    "deadline": _deadline,
    "callback": _callback,
    "tenant": _tenant,
    "labels": _labels,
    "traceparent": _traceparent,
    "tracestate": _tracestate,
    "batch_id": _batch_id,
    "lineage": _lineage,
}
