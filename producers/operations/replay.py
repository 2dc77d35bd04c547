"""Replay and reprocessing: re-publish a window of a topic as new requests with lineage.

The window is ``[from, to)`` per partition, by offset or by message time, fixed when the
replay starts (so re-published requests landing in the same topic are never re-read).
Requests are read from a request topic, or from ``diffusion.results`` (which embeds the
request it answered). Each becomes a new request: a new request_id, submitted now, the
lineage of the original, the ``--set`` overrides; a deadline already past is dropped.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict, Unpack

from confluent_kafka import Consumer, Message

from diffstream.settings import Settings
from producers.client.publisher import Publisher
from producers.client.topic_lookup import full_name, partitions
from producers.exceptions import InputError
from producers.operations.positions import Position
from producers.operations.topic_window import (
    PartitionRange,
    read,
    reader,
    time_offsets,
    whole_topic,
)
from schemas.builders import lineage, now_millis
from schemas.codec import Codec
from schemas.events import EventName
from schemas.exceptions import DecodeError, ValidationError
from schemas.validation import validate_request

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Skipped:
    """An event in the window that was not re-published, and why."""

    coordinates: str
    reason: str


class Selection(TypedDict, total=False):
    """Which requests of the window a replay takes, and what it changes in them."""

    partition: int | None  # one partition, else every one
    filters: Mapping[str, str] | None  # field=value, every one must match
    overrides: Mapping[str, Any] | None  # fields set on each new request


@dataclass
class ReplayReport:
    """What a replay selected and published."""

    topic: str
    ranges: list[PartitionRange]
    selected: int = 0
    published: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    dry_run: bool = False


def replay(
    settings: Settings,
    topic: str,
    *,
    start: Position,
    end: Position,
    dry_run: bool = False,
    **selection: Unpack[Selection],
) -> ReplayReport:
    """Re-publish the requests of ``topic`` in ``[start, end)`` that match every filter."""
    codec = Codec(settings)
    report, replays = select(settings, topic, start=start, end=end, codec=codec, **selection)
    report.dry_run = dry_run
    if not dry_run and replays:
        with Publisher(settings, codec=codec) as publisher:
            futures = [publisher.send_validated(record) for record in replays]
            for record, future in zip(replays, futures, strict=True):
                publisher.wait_acknowledged(future)
                report.published.append(str(record["request_id"]))
    logger.info(
        "replay of %s: %d selected, %d published, %d skipped%s",
        report.topic,
        report.selected,
        len(report.published),
        len(report.skipped),
        " (dry run)" if dry_run else "",
    )
    return report


def select(
    settings: Settings,
    topic: str,
    *,
    start: Position,
    end: Position,
    codec: Codec | None = None,
    **selection: Unpack[Selection],
) -> tuple[ReplayReport, list[dict[str, Any]]]:
    """The new requests (with lineage, validated, not published) a replay of ``topic`` in
    ``[start, end)`` would publish, and its report: for callers that publish them their
    own way (shadow evaluation replays each on two revisions)."""
    name = full_name(settings, topic)
    codec = codec or Codec(settings)
    partition = selection.get("partition")
    filters, overrides = selection.get("filters") or {}, selection.get("overrides") or {}
    consumer = reader(settings)
    try:
        ranges = window(consumer, settings, name, start=start, end=end, partition=partition)
        report = ReplayReport(name, ranges)
        replays = []
        for message in read(consumer, ranges, settings.producer.admin_timeout_s * 4):
            request = _request_of(codec, message, report)
            if request is None or not _matches(request, filters):
                continue
            report.selected += 1
            record = _new_request(request, message, overrides)
            errors = validate_request(record, settings.limits)
            if errors:
                reason = str(ValidationError(errors))
                report.skipped.append(Skipped(_coordinates(message), reason))
                continue
            replays.append(record)
    finally:
        consumer.close()
    return report, replays


def window(
    consumer: Consumer,
    settings: Settings,
    topic: str,
    *,
    start: Position,
    end: Position,
    partition: int | None,
) -> list[PartitionRange]:
    """The ``[start, end)`` offsets of every selected partition, as of now."""
    timeout_s = settings.producer.admin_timeout_s
    full = whole_topic(consumer, topic, timeout_s)
    if partition is not None:
        if partition not in partitions(consumer, topic, timeout_s):
            count = len(full)
            raise InputError(f"--partition {partition}: {topic} has partitions 0..{count - 1}")
        full = [r for r in full if r.partition == partition]
    parts = [r.partition for r in full]
    starts = _resolve(consumer, topic, start, parts, timeout_s)
    ends = _resolve(consumer, topic, end, parts, timeout_s)
    return [
        PartitionRange(
            topic,
            r.partition,
            max(starts.get(r.partition, r.start), r.start),
            min(ends.get(r.partition, r.end), r.end),
        )
        for r in full
    ]


def _resolve(
    consumer: Consumer, topic: str, position: Position, parts: list[int], timeout_s: float
) -> dict[int, int]:
    if position.time is not None:
        return time_offsets(consumer, topic, position.time, timeout_s, parts)
    if position.edge is not None:
        marks = {r.partition: r for r in whole_topic(consumer, topic, timeout_s)}
        edge = "start" if position.edge == "earliest" else "end"
        return {p: getattr(marks[p], edge) for p in parts}
    return dict.fromkeys(parts, position.offset or 0)


def _request_of(codec: Codec, message: Message, report: ReplayReport) -> dict[str, Any] | None:
    try:
        decoded = codec.decode_message(message)
    except DecodeError as exc:
        report.skipped.append(Skipped(_coordinates(message), f"undecodable: {exc.reason}"))
        return None
    if decoded.event is EventName.REQUEST:
        return decoded.value
    if decoded.event is EventName.RESULT:
        return dict(decoded.value["request"])
    reason = f"a {decoded.event} event carries no request to replay"
    report.skipped.append(Skipped(_coordinates(message), reason))
    return None


def _matches(request: Mapping[str, Any], filters: Mapping[str, str]) -> bool:
    return all(_text(_lookup(request, name)) == value for name, value in filters.items())


def _lookup(record: Mapping[str, Any], path: str) -> Any:
    # Dotted paths reach into labels and records: labels.campaign, callback.url.
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _new_request(
    original: Mapping[str, Any], message: Message, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    record = dict(original)
    deadline = record.get("deadline")
    if isinstance(deadline, datetime) and deadline <= datetime.now(UTC):
        record["deadline"] = None  # it expired with the original; keep the replay runnable
    record.update(overrides)
    record.update(
        request_id=str(uuid.uuid4()),
        submitted_at=now_millis(),
        lineage=lineage(
            str(original["request_id"]),
            topic=message.topic() or "",
            partition=message.partition() or 0,
            offset=message.offset() or 0,
        ),
    )
    return record


def _coordinates(message: Message) -> str:
    return f"{message.topic()}[{message.partition()}]@{message.offset()}"
