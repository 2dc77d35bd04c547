"""``diffstream usage``: read ``diffusion.usage`` between two positions and add it up by
tenant, model (``model@revision``) or lane.

Each usage event is one terminal outcome, written in the outcome's transaction, so the sums
are exact (read_committed: aborted batches are never counted). The window is fixed when the
report starts, by offset or by the time each event was written.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from diffstream.settings import Settings
from producers.client.topic_lookup import full_name
from producers.exceptions import InputError
from producers.operations.positions import Position
from producers.operations.replay import window
from producers.operations.topic_window import PartitionRange, read, reader
from schemas.codec import Codec
from schemas.events import EventName, UsageOutcome
from schemas.exceptions import DecodeError
from schemas.topics import USAGE

logger = logging.getLogger(__name__)

GROUPINGS = ("tenant", "model", "lane")
NO_VALUE = "-"
COLUMNS = (
    "requests",
    *(str(outcome) for outcome in UsageOutcome),
    "images",
    "pixel_steps",
    "accelerator_s",
    "mean_queue_s",
)


def groupings(text: str) -> tuple[str, ...]:
    """``--by tenant`` or several, comma-separated (``tenant,lane``)."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in GROUPINGS]
    if not names or unknown:
        raise InputError(
            f"--by {text!r}: group by one or more of {', '.join(GROUPINGS)}, comma-separated "
            "(e.g. --by tenant or --by tenant,lane)"
        )
    return names


@dataclass
class UsageRow:
    """The sums of one group."""

    key: tuple[str, ...]
    requests: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(UsageOutcome, 0))
    images: int = 0
    pixel_steps: int = 0
    accelerator_s: float = 0.0
    queue_s: float = 0.0

    def add(self, usage: Mapping[str, Any]) -> None:
        """Count one usage event."""
        self.requests += 1
        self.outcomes[UsageOutcome(usage["outcome"])] += 1
        self.images += usage["images"]
        self.pixel_steps += usage["pixel_steps"]
        self.accelerator_s += usage["accelerator_s"]
        self.queue_s += usage["queue_s"]

    def values(self) -> list[int | float]:
        """The row's numbers, in ``COLUMNS`` order."""
        mean_queue = self.queue_s / self.requests if self.requests else 0.0
        counts = [self.outcomes[outcome] for outcome in UsageOutcome]
        return [
            self.requests,
            *counts,
            self.images,
            self.pixel_steps,
            self.accelerator_s,
            mean_queue,
        ]


def group_value(usage: Mapping[str, Any], name: str) -> str:
    """The value of ``usage`` that the grouping ``name`` sorts it by."""
    if name == "model":
        model, revision = usage.get("model") or NO_VALUE, usage.get("revision")
        return f"{model}@{revision}" if revision else model
    return str(usage.get(name) or NO_VALUE)


def aggregate(events: Iterable[Mapping[str, Any]], by: Sequence[str]) -> list[UsageRow]:
    """One row per group of ``events``, sorted by the group's values."""
    rows: dict[tuple[str, ...], UsageRow] = {}
    for usage in events:
        key = tuple(group_value(usage, name) for name in by)
        rows.setdefault(key, UsageRow(key)).add(usage)
    return [rows[key] for key in sorted(rows)]


def total(rows: Iterable[UsageRow], width: int) -> UsageRow:
    """The sums of every row."""
    whole = UsageRow(("total",) + ("",) * (width - 1))
    for row in rows:
        whole.requests += row.requests
        for outcome, count in row.outcomes.items():
            whole.outcomes[outcome] += count
        whole.images += row.images
        whole.pixel_steps += row.pixel_steps
        whole.accelerator_s += row.accelerator_s
        whole.queue_s += row.queue_s
    return whole


def to_csv(rows: Iterable[UsageRow], by: Sequence[str]) -> str:
    """The rows as CSV with a header line (full precision, no total row)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*by, *COLUMNS])
    for row in rows:
        writer.writerow([*row.key, *row.values()])
    return buffer.getvalue()


@dataclass
class UsageReport:
    """What was read and how it adds up."""

    topic: str
    ranges: list[PartitionRange]
    rows: list[UsageRow]
    events: int
    undecodable: int


def usage_report(
    settings: Settings, *, start: Position, end: Position, by: Sequence[str]
) -> UsageReport:
    """Read the usage events in ``[start, end)`` of every partition and add them up."""
    topic = full_name(settings, USAGE)
    codec = Codec(settings)
    consumer = reader(settings)
    events: list[dict[str, Any]] = []
    undecodable = 0
    try:
        ranges = window(consumer, settings, topic, start=start, end=end, partition=None)
        for message in read(consumer, ranges, settings.producer.admin_timeout_s * 4):
            try:
                events.append(codec.decode_message(message, expected=EventName.USAGE).value)
            except DecodeError as exc:
                undecodable += 1
                logger.warning("skipping an undecodable usage event: %s", exc)
    finally:
        consumer.close()
    return UsageReport(topic, ranges, aggregate(events, by), len(events), undecodable)
