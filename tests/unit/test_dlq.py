"""The dead-letter envelope: headers built from an error, parsed back, kept across redrives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas import dlq
from schemas.codec import Codec
from schemas.exceptions import DeadLetterError, DecodeError

T0 = datetime(2025, 3, 1, 8, 30, 0, 123000, tzinfo=UTC)
ORIGINAL = [("content-type", b"application/octet-stream"), ("traceparent", None), ("x", b"1")]


def _decode_error() -> DecodeError:
    try:
        Codec.without_registry().decode(b"\xff", topic="diffusion.requests", partition=4, offset=99)
    except DecodeError as error:
        return error
    raise AssertionError("garbage decoded")


def test_headers_round_trip_and_keep_the_original_ones_first() -> None:
    headers = dlq.dead_letter_headers(
        ORIGINAL, topic="diffusion.requests", partition=4, offset=99, error=_decode_error(), now=T0
    )
    assert headers[: len(ORIGINAL)] == ORIGINAL
    assert all(isinstance(key, str) for key, _ in headers)
    letter = dlq.parse_dead_letter(headers)
    assert (letter.topic, letter.partition, letter.offset) == ("diffusion.requests", 4, 99)
    assert letter.error_class == "schemas.exceptions.DecodeError"
    assert letter.error_message.startswith("diffusion.requests[4]@99: unknown framing")
    assert letter.first_seen == T0
    assert letter.count == 1
    assert letter.original_headers == ORIGINAL


def test_headers_are_plain_utf8_text() -> None:
    headers = dict(
        dlq.dead_letter_headers(
            None, topic="t", partition=0, offset=5, error=ValueError("bad"), now=T0
        )
    )
    assert headers[dlq.PARTITION] == b"0"
    assert headers[dlq.OFFSET] == b"5"
    assert headers[dlq.ERROR_CLASS] == b"builtins.ValueError"
    assert headers[dlq.FIRST_SEEN] == b"2025-03-01T08:30:00.123+00:00"


def test_long_and_odd_messages_are_cut_and_stay_valid_utf8() -> None:
    error = RuntimeError("\ud800" + "é" * 5000)
    headers = dict(dlq.dead_letter_headers([], topic="t", partition=0, offset=0, error=error))
    message = headers[dlq.ERROR_MESSAGE]
    assert message is not None
    text = message.decode("utf-8")
    assert len(text) == dlq.MAX_ERROR_MESSAGE_CHARS
    assert text.endswith("…")


def test_an_empty_message_falls_back_to_the_class_name() -> None:
    headers = dlq.dead_letter_headers([], topic="t", partition=0, offset=0, error=KeyError())
    assert dlq.parse_dead_letter(headers).error_message == "KeyError"


def test_a_redrive_that_fails_again_keeps_first_seen_and_counts() -> None:
    first = dlq.dead_letter_headers(
        ORIGINAL, topic="diffusion.requests", partition=4, offset=99, error=ValueError("a"), now=T0
    )
    # The redrive published the dead letter with all its headers to the requests topic.
    second = dlq.dead_letter_headers(
        first,
        topic="diffusion.requests",
        partition=1,
        offset=7,
        error=TypeError("b"),
        now=T0 + timedelta(days=1),
    )
    letter = dlq.parse_dead_letter(second)
    assert letter.first_seen == T0
    assert letter.count == 2
    assert (letter.partition, letter.offset, letter.error_message) == (1, 7, "b")
    assert letter.original_headers == ORIGINAL
    assert sum(key == dlq.TOPIC for key, _ in second) == 1


@pytest.mark.parametrize("missing", [dlq.TOPIC, dlq.OFFSET, dlq.FIRST_SEEN, dlq.ERROR_CLASS])
def test_parse_rejects_incomplete_envelopes(missing: str) -> None:
    headers = dlq.dead_letter_headers([], topic="t", partition=0, offset=0, error=ValueError("x"))
    with pytest.raises(DeadLetterError, match=missing):
        dlq.parse_dead_letter([(k, v) for k, v in headers if k != missing])


@pytest.mark.parametrize(
    ("key", "value"), [(dlq.PARTITION, b"four"), (dlq.FIRST_SEEN, b"yesterday"), (dlq.COUNT, None)]
)
def test_parse_rejects_malformed_values(key: str, value: bytes | None) -> None:
    headers = dlq.dead_letter_headers([], topic="t", partition=0, offset=0, error=ValueError("x"))
    with pytest.raises(DeadLetterError):
        dlq.parse_dead_letter([*headers, (key, value)])


def test_parse_of_no_headers_is_a_dead_letter_error() -> None:
    with pytest.raises(DeadLetterError):
        dlq.parse_dead_letter(None)
