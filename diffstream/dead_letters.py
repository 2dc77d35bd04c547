"""Dead letters as outputs of a transactional batch: the original bytes, headers saying
where they were read and why they could not be handled.

A dead letter must always fit its topic: a message larger than the topic accepts (results
carry images: tens of MB) would fail the whole transaction again and again and stall its
partition. Such a value is cut to ``MAX_DEAD_LETTER_VALUE_BYTES`` and the letter says so
(``diffstream.dlq.truncated.from``: the original size), so it is kept for diagnosis and
never redriven.
"""

from __future__ import annotations

from confluent_kafka import Message

from diffstream.exactly_once import Output
from schemas.dlq import TRUNCATED_FROM, dead_letter_headers

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
