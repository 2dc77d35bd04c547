"""Control characters in text fields, URLs shown without secrets, errors logged truncated."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Message

from diffstream.request_limits import RequestLimits
from processors.intake import Refused, admit
from schemas.builders import invalid_request_failed, new_request
from schemas.codec import Codec
from schemas.events import EventName
from schemas.exceptions import FieldError
from schemas.urls import redact_url
from schemas.validation import callback_errors, describe_errors, validate_request

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def _request(**overrides: Any) -> dict[str, Any]:
    record = new_request("a red bicycle", submitted_at=NOW - timedelta(seconds=1))
    record.update(overrides)
    return record


def _errors(**overrides: Any) -> list[FieldError]:
    return validate_request(_request(**overrides), now=NOW)


CONTROL = ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\r", "\x1b", "\x1f", "\x7f", "\x85"]


@pytest.mark.parametrize("char", CONTROL)
@pytest.mark.parametrize(
    ("field", "make"),
    [
        ("prompt", lambda c: {"prompt": f"a cat{c}on a mat"}),
        ("negative_prompt", lambda c: {"negative_prompt": f"blurry{c}"}),
        ("tenant", lambda c: {"tenant": f"acme{c}"}),
        ("batch_id", lambda c: {"batch_id": f"b{c}1"}),
        ("labels.team", lambda c: {"labels": {"team": f"red{c}"}}),
        ("labels.te{e}am", lambda c: {"labels": {f"te{c}am": "red"}}),
        ("tracestate", lambda c: {"tracestate": f"a=b{c}"}),
    ],
)
def test_control_characters_are_refused_in_every_text_field(
    char: str, field: str, make: Any
) -> None:
    errors = _errors(**make(char))
    escaped = char.encode("unicode_escape").decode()
    assert [e.field for e in errors] == [field.replace("{e}", escaped)]
    [error] = errors
    assert f"U+{ord(char):04X}" in error.message, "names the character"
    assert "without control characters" in error.message, "names the limit"
    assert "remove it or replace it with a space" in error.message, "names the fix"
    assert char not in error.message, "the message shows it escaped"


def test_prompts_keep_newlines_and_tabs() -> None:
    assert _errors(prompt="a cat\non a mat\twith a hat", negative_prompt="blurry\n\tdark") == []


@pytest.mark.parametrize("char", ["\n", "\t"])
def test_one_line_fields_refuse_newlines_and_tabs(char: str) -> None:
    errors = _errors(tenant=f"acme{char}", labels={"team": f"red{char}"})
    assert sorted(e.field for e in errors) == ["labels.team", "tenant"]
    assert all("one line, no tabs" in e.message for e in errors)


def test_a_nul_in_the_prompt_names_its_position() -> None:
    [error] = _errors(prompt="draw\x00 a 7")
    assert "U+0000 at position 4" in error.message
    assert error.message.startswith("prompt='draw\\x00 a 7' contains control character")


def test_unicode_text_is_not_a_control_character() -> None:
    assert _errors(prompt="ein Fahrrad, 自転車, دراجة 🚲 — «quoted»") == []


def test_a_failed_event_for_a_nul_prompt_is_encodable() -> None:
    request = _request(prompt="\x00" * 10)
    failed = invalid_request_failed(request, validate_request(request, now=NOW))
    assert failed["field_errors"][0]["field"] == "prompt"
    Codec().encode(EventName.FAILED, failed)


# ---- URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@hooks.example.com/a?token=x", "https://hooks.example.com/a?<redacted>"),
        ("https://hooks.example.com:8443/a#frag", "https://hooks.example.com:8443/a?<redacted>"),
        ("http://:pw@[2001:db8::1]:8080/p", "http://[2001:db8::1]:8080/p"),
        ("http://HOOKS.example.com", "http://hooks.example.com"),
        ("http://h/\x1b[31m", "http://h/\\x1b[31m"),
        ("not a url", "<malformed URL, 9 characters>"),
        ("http://h:99999/", "<malformed URL, 15 characters>"),
    ],
)
def test_redacted_urls_have_no_userinfo_query_or_fragment(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_long_paths_are_shortened() -> None:
    shown = redact_url("https://h/" + "p" * 5000)
    assert len(shown) < 150
    assert shown.endswith("(5001 characters)")


def test_a_callback_with_credentials_is_refused_without_showing_them() -> None:
    url = "https://alice:s3cret@hooks.example.com/h?sig=t0ken"
    errors = _errors(callback={"url": url, "events": ["failed"]})
    [error] = errors
    assert error.field == "callback.url"
    assert "carries credentials" in error.message
    assert "alice" not in error.message
    assert "s3cret" not in error.message
    assert "t0ken" not in error.message
    assert "alice" not in repr(error), "nor in the value the error carries"
    failed = invalid_request_failed(_request(callback={"url": url, "events": ["failed"]}), errors)
    assert "s3cret" not in failed["message"]
    assert all("s3cret" not in e["message"] for e in failed["field_errors"])


def test_callback_errors_judges_a_callback_alone() -> None:
    assert callback_errors({"url": "https://hooks.example.com/h", "events": ["completed"]}) == []
    bad = callback_errors({"url": "https://u:p@hooks.example.com/h", "events": ["completed"]})
    assert [e.field for e in bad] == ["callback.url"]
    assert [e.field for e in callback_errors({"url": "ftp://x/", "events": []})] == [
        "callback.url",
        "callback.events",
    ]


# ---- logs -------------------------------------------------------------------------------


def test_describe_errors_is_one_short_line() -> None:
    errors = _errors(prompt="x" * 1_000_000, labels={f"k{i}": "v\x00" for i in range(32)})
    text = describe_errors(errors)
    assert len(text) < 1100
    assert text.startswith("prompt='xxxx")
    assert f"({len(errors)} errors," in text
    assert "\n" not in text


def test_the_processor_logs_a_refused_request_truncated(caplog: pytest.LogCaptureFixture) -> None:
    codec = Codec.without_registry()
    request = new_request("y" * 2_000_000, submitted_at=datetime.now(UTC))
    raw = codec.encode(EventName.REQUEST, request)
    message = Message(topic="diffusion.requests", partition=0, offset=7, key=b"k", value=raw)
    with caplog.at_level(logging.INFO, logger="processors.intake"):
        outcome = admit(message, codec=codec, limits=RequestLimits(), is_cancelled=lambda _: False)
    assert isinstance(outcome, Refused)
    [line] = [r.getMessage() for r in caplog.records if "invalid request" in r.getMessage()]
    assert len(line) < 1300, f"a {len(line)}-character log line"
    assert "has 2000000 characters" in line


def test_a_huge_label_key_is_shown_short_in_the_field_name() -> None:
    [error] = _errors(labels={"k" * 100_000 + "\n": "v"})
    assert len(error.field) < 120
    assert len(error.message) < 400
