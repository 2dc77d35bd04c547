"""``--from`` / ``--to`` values: an offset (an integer), a time (ISO 8601, or relative), or
``earliest`` / ``latest`` (the low / high watermark, as every Kafka tool spells them)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from producers.exceptions import InputError
from producers.operations.field_text import parse_time

_RELATIVE = re.compile(r"-(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class Position:
    """An offset, a time or a watermark (``earliest``/``latest``); exactly one is set."""

    offset: int | None = None
    time: datetime | None = None
    edge: Literal["earliest", "latest"] | None = None


def parse_position(text: str, *, now: datetime | None = None) -> Position:
    """``1234`` is an offset; ``2024-06-01T12:00:00Z``, ``now`` and ``-15m`` are times;
    ``earliest`` and ``latest`` are the partition's low and high watermarks."""
    text = text.strip()
    if text.lower() == "earliest":
        return Position(edge="earliest")
    if text.lower() == "latest":
        return Position(edge="latest")
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
            f"{text!r} is neither an offset (a non-negative integer), a time "
            "(ISO 8601 such as 2024-06-01T12:00:00Z, 'now', or relative such as -15m), "
            "nor 'earliest' or 'latest'"
        ) from None
