"""Checks of single values shared by the request rules: each returns the ``FieldError``s of
one field (empty when it passes), naming the field, its value, the limit and the problem."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from functools import cache
from typing import TypeGuard
from urllib.parse import urlsplit

from schemas.events import Lane, OutputFormat
from schemas.exceptions import FieldError
from schemas.urls import redact_url

Errors = list[FieldError]

# Hugging Face ids (org/name) and relative paths; no leading "/" or "~", no ".." segments.
MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
VALUE_CHARS_IN_MESSAGE = 60
KEY_CHARS_IN_FIELD = 100
# Unicode category Cc (C0, DEL, C1): invisible, and they can forge log lines and confuse
# tokenizers. Prompts may keep newline and tab; one-line fields (labels, tenant, ...) none.
CONTROL_IN_PROSE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
CONTROL_IN_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def error(field: str, value: object, limit: object, problem: str) -> FieldError:
    shown = repr(value)
    if len(shown) > VALUE_CHARS_IN_MESSAGE:
        shown = f"{shown[:VALUE_CHARS_IN_MESSAGE]}... ({len(shown)} chars)"
    return FieldError(field, value, limit, f"{field}={shown} {problem} (limit: {limit})")


def shown_key(key: object) -> str:
    """A map key as part of a field name: printable and short (it may be neither)."""
    text = str(key)
    if len(text) > KEY_CHARS_IN_FIELD:
        text = f"{text[:KEY_CHARS_IN_FIELD]}..."
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def int_range(field: str, value: object, low: int, high: int) -> Errors:
    # Every check runs on every request the control plane handles: the valid path first,
    # and an error's words only for an error.
    if is_int(value) and low <= value <= high:
        return []
    problem = "is out of range" if is_int(value) else "is not an integer"
    return [error(field, value, f"an integer in [{low}, {high}]", problem)]


def text(
    field: str,
    value: object,
    max_chars: int,
    *,
    allow_blank: bool,
    what: str = "text",
    multiline: bool = False,
) -> Errors:
    problem = _text_problem(value, max_chars, allow_blank=allow_blank, what=what)
    control = None
    if problem is None:
        assert isinstance(value, str)
        control = (CONTROL_IN_PROSE if multiline else CONTROL_IN_LINE).search(value)
        if control is None:
            return []
    bounds = f"{'' if allow_blank else 'non-blank '}{what} of at most {max_chars} characters"
    if control is not None:
        allowed = "other than newline and tab" if multiline else "(one line, no tabs)"
        bounds = f"{bounds}, without control characters {allowed}"
        problem = (
            f"contains control character U+{ord(control.group()):04X} at position "
            f"{control.start()}; remove it or replace it with a space"
        )
    return [error(field, value, bounds, problem or "")]


def _text_problem(value: object, max_chars: int, *, allow_blank: bool, what: str) -> str | None:
    """What is wrong with ``value`` as text, apart from control characters; None if nothing."""
    if not isinstance(value, str):
        return f"is not {what}"
    if not allow_blank and not value.strip():
        return "is blank"
    if len(value) > max_chars:
        return f"has {len(value)} characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 (lone surrogate)"
    return None


def model_name(field: str, value: object, max_chars: int) -> Errors:
    errors = text(field, value, max_chars, allow_blank=False, what="name")
    if errors:
        return errors
    assert isinstance(value, str)
    if not MODEL.fullmatch(value) or ".." in value.split("/") or "//" in value:
        limit = "letters, digits and . _ - /, starting with a letter or digit, no '..'"
        return [error(field, value, limit, "is not a valid name")]
    return []


def uuid_value(field: str, value: object) -> Errors:
    if isinstance(value, uuid.UUID):
        return []
    if isinstance(value, str):
        try:
            uuid.UUID(value)
        except ValueError:
            pass
        else:
            return []
    return [error(field, value, "a UUID", "is not a UUID")]


def symbol(field: str, value: object, symbols: type[OutputFormat] | type[Lane]) -> Errors:
    allowed = _values(symbols)
    return [] if value in allowed else [error(field, value, f"one of {allowed}", "is not allowed")]


@cache
def _values(symbols: type[OutputFormat] | type[Lane]) -> list[str]:
    return [s.value for s in symbols]


def url(field: str, value: object, max_chars: int) -> Errors:
    limit = f"an http(s) URL with a host, at most {max_chars} characters"
    problem = url_problem(value, max_chars)
    if problem is None:
        return []
    # The error shows (and carries) the URL without userinfo and query: they may hold a
    # password, and errors end up in logs and in the public diffusion.failed topic.
    return [error(field, redact_url(value) if isinstance(value, str) else value, limit, problem)]


def url_problem(value: object, max_chars: int) -> str | None:
    """The first rule of ``url`` that ``value`` breaks, or None."""
    if not isinstance(value, str):
        return "is not text"
    if len(value) > max_chars:
        return f"has {len(value)} characters"
    try:
        parts = urlsplit(value)
        host, _port = parts.hostname, parts.port  # .port raises on a bad port
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https"):
        return f"has scheme {parts.scheme!r}"
    if not host:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL end up in logs and events; use the webhook signature instead.
        return "carries credentials (user:password@); remove them, receivers verify signatures"
    if any(ch.isspace() or ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F for ch in value):
        return "contains whitespace or control characters; percent-encode them"
    return None


def aware(value: datetime) -> datetime:
    # Naive datetimes are UTC, as fastavro writes them.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def to_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return aware(value)
    if is_int(value):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None
