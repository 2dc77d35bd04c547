"""``--from`` / ``--to`` values: an offset (an integer) or a time (ISO 8601, or relative)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from producers.exceptions import InputError
from producers.operations.field_text import parse_time

_RELATIVE = re.compile(r"-(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class Position:
    """Either an offset or a time; exactly one is set."""

    offset: int | None = None
    time: datetime | None = None


def parse_position(text: str, *, now: datetime | None = None) -> Position:
    """``1234`` is an offset; ``2024-06-01T12:00:00Z``, ``now`` and ``-15m`` are times."""
    text = text.strip()
    if text.isdigit():
        return Position(offset=int(text))
    if text == "now":
        return Position(time=now or datetime.now(UTC))
    match = _RELATIVE.fullmatch(text)
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
        return Position(time=(now or datetime.now(UTC)) - delta)
    try:
        return Position(time=parse_time(text))
    except ValueError:
        raise InputError(
            f"{text!r} is neither an offset (a non-negative integer) nor a time "
            "(ISO 8601 such as 2024-06-01T12:00:00Z, 'now', or relative such as -15m)"
        ) from None
