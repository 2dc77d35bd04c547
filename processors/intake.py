"""What becomes of one request event before any GPU time: a task, a refusal, or a dead letter."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from confluent_kafka import Message

from diffstream.request_limits import RequestLimits
from processors.engine.tasks import GenerationTask
from schemas.builders import invalid_request_failed, new_failed, request_context, source_coordinates
from schemas.codec import Codec
from schemas.events import ErrorCode, EventName, RequestState
from schemas.exceptions import DecodeError, FieldError
from schemas.validation import describe_errors, validate_request

if TYPE_CHECKING:
    from processors.engine.registry import ModelLocator

log = logging.getLogger(__name__)


class Admitted(NamedTuple):
    """A request worth GPU time."""

    message: Message
    request: dict[str, Any]
    task: GenerationTask
    source: dict[str, Any]


class Refused(NamedTuple):
    """A decodable request that ends without GPU time (invalid, expired or cancelled)."""

    message: Message
    request: dict[str, Any]
    failed: dict[str, Any]
    state: RequestState


class Undecodable(NamedTuple):
    """Bytes that are not a request event: they go to the dead-letter topic as they are."""

    message: Message
    error: DecodeError


Intake = Admitted | Refused | Undecodable


def coordinates(message: Message) -> str:
    """``topic[partition]@offset``, the way bad messages are named in logs."""
    return f"{message.topic()}[{message.partition()}]@{message.offset()}"


def admit(
    message: Message,
    *,
    codec: Codec,
    limits: RequestLimits,
    is_cancelled: Callable[[str], bool],
    now: datetime | None = None,
) -> Intake:
    """Decode, then refuse what is expired, cancelled or invalid; never raises for bad data."""
    topic, partition, offset = message.topic() or "", message.partition(), message.offset()
    source = source_coordinates(topic, partition or 0, offset or 0)
    try:
        decoded = codec.decode_message(message, expected=EventName.REQUEST)
    except DecodeError as error:
        log.warning("dead letter %s: %s", coordinates(message), error)
        return Undecodable(message, error)
    request = decoded.value
    now = now or datetime.now(UTC)
    request_id = str(request.get("request_id"))

    deadline = request.get("deadline")
    if isinstance(deadline, datetime) and deadline <= now:
        late = (now - deadline).total_seconds()
        return _refuse(
            message,
            request,
            source,
            ErrorCode.EXPIRED,
            f"deadline {deadline.isoformat()} passed {late:.1f}s before processing began",
            RequestState.FAILED,
        )
    if is_cancelled(request_id):
        return _refuse(
            message,
            request,
            source,
            ErrorCode.CANCELLED,
            "cancelled before processing began",
            RequestState.CANCELLED,
        )
    errors = validate_request(request, limits, now=now)
    if not errors:
        # The engine checks its own input rules (once, before any work): see InferenceRun.
        try:
            task = GenerationTask.from_request({**request, "request_id": request_id})
            return Admitted(message, request, task, source)
        except (TypeError, ValueError) as error:
            errors = [FieldError("request", None, "engine input rules", str(error))]
    # The messages show values truncated; the FieldErrors' own values may be megabytes.
    log.info(
        "invalid request %.64s at %s: %s", request_id, coordinates(message), describe_errors(errors)
    )
    failed = invalid_request_failed(request, errors, source=source)
    return Refused(message, request, failed, RequestState.FAILED)


def _refuse(  # noqa: PLR0917  # one call site per reason, each reads best positionally
    message: Message,
    request: dict[str, Any],
    source: dict[str, Any],
    code: ErrorCode,
    text: str,
    state: RequestState,
) -> Refused:
    failed = new_failed(
        request["request_id"],
        code,
        text,
        retryable=False,
        model=request.get("model"),
        source=source,
        context=request_context(request),
    )
    return Refused(message, request, failed, state)


def pinned(item: Admitted, models: ModelLocator | None) -> Admitted:
    """The request with the revision it runs on (an alias resolved now, once, by
    ``models``), which its result and completed event then name."""
    if models is None:
        return item
    task = item.task
    revision = models.pin(task.model, task.revision)
    if revision == task.revision:
        return item
    return item._replace(task=dataclasses.replace(task, revision=revision))
