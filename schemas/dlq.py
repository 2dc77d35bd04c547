"""The dead-letter envelope of ``diffusion.dlq``: the original bytes plus headers saying why.

A dead letter keeps the original key and value bytes untouched (they may be undecodable,
which is usually why they are here) and the original headers, followed by these, all UTF-8
text so that ``kcat`` or any client can read them:

==============================  ==========================================================
``diffstream.dlq.topic``        topic the message was read from
``diffstream.dlq.partition``    its partition (decimal)
``diffstream.dlq.offset``       its offset (decimal)
``diffstream.dlq.error.class``  the exception's class, ``module.QualName``
``diffstream.dlq.error.message``  the exception's message, cut to 1000 characters
``diffstream.dlq.first.seen``   ISO 8601 UTC time it was first dead-lettered
``diffstream.dlq.count``        how many times it was dead-lettered (1, then 2 after a
                                redrive that failed again, ...)
``diffstream.dlq.truncated.from``  only when the value was too large for the topic: its
                                original size in bytes (the value kept is its start)
==============================  ==========================================================

A redrive may publish a dead letter with all its headers; if it fails again, the new
envelope keeps ``first.seen``, counts up, and replaces the other ``diffstream.dlq.*`` headers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Message

from diffstream.loop_contract import Output
from schemas.exceptions import DeadLetterError

logger = logging.getLogger(__name__)

Header = tuple[str, bytes | None]

PREFIX = "diffstream.dlq."
TOPIC = PREFIX + "topic"
PARTITION = PREFIX + "partition"
OFFSET = PREFIX + "offset"
ERROR_CLASS = PREFIX + "error.class"
ERROR_MESSAGE = PREFIX + "error.message"
FIRST_SEEN = PREFIX + "first.seen"
COUNT = PREFIX + "count"
TRUNCATED_FROM = PREFIX + "truncated.from"
MAX_ERROR_MESSAGE_CHARS = 1000


@dataclass(frozen=True)
class DeadLetter:
    """What the dead-letter headers say, and the headers the message had before."""

    topic: str
    partition: int
    offset: int
    error_class: str
    error_message: str
    first_seen: datetime
    count: int
    original_headers: list[Header]
    # Set when the value was cut to fit the topic: its original size (never redriven).
    truncated_from: int | None = None


def error_class_name(error: BaseException) -> str:
    """``module.QualName`` of an exception, e.g. ``schemas.exceptions.DecodeError``."""
    kind = type(error)
    return f"{kind.__module__}.{kind.__qualname__}"


def dead_letter_headers(
    original_headers: Iterable[Header] | None,
    *,
    topic: str,
    partition: int,
    offset: int,
    error: BaseException,
    now: datetime | None = None,
) -> list[Header]:
    """The headers of a dead letter: the original ones, then the ``diffstream.dlq.*`` ones."""
    original = list(original_headers or ())
    previous = _last_values(original)
    kept = [(key, value) for key, value in original if not key.startswith(PREFIX)]
    first_seen = _first_seen(previous.get(FIRST_SEEN)) or (now or datetime.now(UTC))
    count = _count(previous.get(COUNT)) + 1
    message = str(error) or type(error).__name__
    if len(message) > MAX_ERROR_MESSAGE_CHARS:
        message = message[: MAX_ERROR_MESSAGE_CHARS - 1] + "…"
    envelope = {
        TOPIC: topic,
        PARTITION: str(partition),
        OFFSET: str(offset),
        ERROR_CLASS: error_class_name(error),
        ERROR_MESSAGE: message,
        FIRST_SEEN: _aware(first_seen).isoformat(timespec="milliseconds"),
        COUNT: str(count),
    }
    # "replace": an exception message may hold lone surrogates from undecodable input.
    return kept + [(key, text.encode("utf-8", "replace")) for key, text in envelope.items()]


def parse_dead_letter(headers: Iterable[Header] | None) -> DeadLetter:
    """Read the headers of a dead letter back; ``DeadLetterError`` if they are not one."""
    headers = list(headers or ())
    values = _last_values(headers)
    text: dict[str, str] = {}
    for key in (TOPIC, PARTITION, OFFSET, ERROR_CLASS, ERROR_MESSAGE, FIRST_SEEN, COUNT):
        raw = values.get(key)
        if raw is None:
            raise DeadLetterError(f"header {key} is missing")
        text[key] = raw.decode("utf-8", "replace")
    first_seen = _first_seen(values[FIRST_SEEN])
    try:
        partition, offset, count = int(text[PARTITION]), int(text[OFFSET]), int(text[COUNT])
    except ValueError as exc:
        raise DeadLetterError(f"a dead-letter header is not a number: {exc}") from None
    if first_seen is None:
        raise DeadLetterError(f"header {FIRST_SEEN}={text[FIRST_SEEN]!r} is not an ISO 8601 time")
    return DeadLetter(
        topic=text[TOPIC],
        partition=partition,
        offset=offset,
        error_class=text[ERROR_CLASS],
        error_message=text[ERROR_MESSAGE],
        first_seen=first_seen,
        count=count,
        original_headers=[(k, v) for k, v in headers if not k.startswith(PREFIX)],
        truncated_from=_count(values.get(TRUNCATED_FROM)) or None,
    )


def _last_values(headers: list[Header]) -> dict[str, bytes | None]:
    # Kafka allows repeated keys; the last one wins, as in most clients' "get header".
    return dict(headers)


def _first_seen(raw: bytes | None) -> datetime | None:
    if not raw:
        return None
    try:
        return _aware(datetime.fromisoformat(raw.decode("utf-8")))
    except (UnicodeDecodeError, ValueError):
        logger.warning("ignoring a malformed %s header: %r", FIRST_SEEN, raw[:64])
        return None


def _count(raw: bytes | None) -> int:
    try:
        return max(int(raw or b"0"), 0)
    except ValueError:
        return 0


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# The DLQ topics keep the broker's default limit (about 1 MiB); leave room for headers.
MAX_DEAD_LETTER_VALUE_BYTES = 512 * 1024


def dead_letter(topic: str, message: Message, error: BaseException) -> Output:
    """The dead letter of ``message`` for ``topic``."""
    raw = message.headers() or []
    pairs = list(raw.items()) if isinstance(raw, dict) else list(raw)
    original = [(k, v.encode() if isinstance(v, str) else v) for k, v in pairs]
    headers = dead_letter_headers(
        original,
        topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        error=error,
    )
    value = message.value()
    if value is not None and len(value) > MAX_DEAD_LETTER_VALUE_BYTES:
        headers.append((TRUNCATED_FROM, str(len(value)).encode()))
        value = value[:MAX_DEAD_LETTER_VALUE_BYTES]
    return Output(topic, message.key(), value, list(headers))


def coordinates(message: Message) -> str:
    """``topic[partition]@offset``, the way bad messages are named in logs."""
    return f"{message.topic()}[{message.partition()}]@{message.offset()}"
