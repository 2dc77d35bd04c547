"""Bulk backfills: publish a file of requests once, follow them to the end, report.

A re-run publishes only what is missing: request_ids are deterministic (see ``lines``), and
before publishing the lane topic is scanned for the keys it already holds. Every published
record is acknowledged (idempotent producer, acks=all) before it counts as published.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Message

from diffstream.settings import Settings
from producers.client.events import Event
from producers.client.outcome_reader import DEFAULT_COMPLETED_TOPIC, OutcomeReader
from producers.client.publisher import CLOCK_SKEW, Publisher, lane_topic
from producers.operations.backfill_file import Entry, Format, LineError, read_entries
from producers.operations.backfill_manifest import write_manifest
from producers.operations.topic_window import read, reader, whole_topic
from schemas.events import Lane

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """Where a backfill stands: ``phase`` is "scan", "publish" or "follow"."""

    phase: str
    done: int
    total: int
    completed: int = 0
    failed: int = 0


@dataclass
class BackfillReport:
    """What a backfill run did, line by line."""

    batch_id: str
    entries: list[Entry]
    invalid: list[LineError]
    already_published: int = 0
    published: int = 0
    outcomes: dict[str, Event] = field(default_factory=dict)
    manifest_uri: str | None = None

    @property
    def completed(self) -> int:
        """Requests with a completed event."""
        return sum(e.kind == "completed" for e in self.outcomes.values())

    @property
    def failures(self) -> list[tuple[Entry, Event]]:
        """Failed requests with their failed event, in line order."""
        return [
            (entry, self.outcomes[entry.request_id])
            for entry in self.entries
            if self.outcomes.get(entry.request_id, None) is not None
            and self.outcomes[entry.request_id].kind == "failed"
        ]

    @property
    def pending(self) -> int:
        """Published requests without an outcome yet."""
        return len(self.entries) - len(self.outcomes)

    def manifest_rows(self) -> list[dict[str, Any]]:
        """One row per line of the file, in file order."""
        rows: list[dict[str, Any]] = []
        for entry in self.entries:
            event = self.outcomes.get(entry.request_id)
            row: dict[str, Any] = {"line": entry.line, "request_id": entry.request_id}
            if event is None:
                row["status"] = "pending"
            elif event.kind == "failed":
                row.update(status="failed", error_code=event.error_code, message=event.message)
            else:
                row.update(status="completed", image_uris=event.image_uris)
            rows.append(row)
        rows += [{"line": e.line, "status": "invalid", "message": e.message} for e in self.invalid]
        return sorted(rows, key=lambda row: int(row["line"]))


def default_batch_id(path: Path) -> str:
    """The file's name and a digest of its bytes: the same file gives the same batch id."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"{path.stem}-{digest}"


def run_backfill(
    settings: Settings,
    path: Path,
    *,
    batch_id: str | None = None,
    fmt: Format | None = None,
    lane: Lane = Lane.BATCH,
    rate: float | None = None,
    limit: int | None = None,
    follow: bool = False,
    follow_timeout_s: float | None = None,
    completed_topic: str = DEFAULT_COMPLETED_TOPIC,
    on_progress: Callable[[Progress], None] | None = None,
) -> BackfillReport:
    """Publish what ``path`` holds that the lane topic does not yet (at most ``limit``, at
    most ``rate`` per second), optionally follow every request to its outcome, and store
    the manifest. Bad lines are reported in ``invalid`` and skipped."""
    notify = on_progress or (lambda _progress: None)
    batch_id = batch_id or default_batch_id(path)
    entries, invalid = read_entries(path, batch_id, fmt=fmt, lane=lane, limits=settings.limits)
    report = BackfillReport(batch_id, entries, invalid)
    for error in invalid:
        # %.500s: a bad line may hold a megabyte value, and the message may quote it.
        logger.warning("%s line %d: %.500s", path, error.line, error.message)
    started = datetime.now(UTC)
    try:
        seen = _published_ids(settings, entries, notify)
        report.already_published = len(seen)
        missing = [e for e in entries if e.request_id not in seen]
        if limit is not None:
            missing = missing[:limit]
        with Publisher(settings) as publisher:
            report.published = _publish(publisher, missing, rate, notify)
        if follow:
            earliest = min([*seen.values(), started])
            _follow(
                settings,
                report,
                since=earliest,
                timeout_s=follow_timeout_s,
                completed_topic=completed_topic,
                notify=notify,
            )
    finally:
        report.manifest_uri = write_manifest(settings, batch_id, report.manifest_rows())
    return report


def _published_ids(
    settings: Settings, entries: list[Entry], notify: Callable[[Progress], None]
) -> dict[str, datetime]:
    """The request_ids of ``entries`` already in their lane topics, with their timestamps."""
    wanted = {e.request_id for e in entries}
    topics = sorted({lane_topic(settings, e.record) for e in entries})
    found: dict[str, datetime] = {}
    consumer = reader(settings)
    try:
        for topic in topics:
            ranges = whole_topic(consumer, topic, settings.producer.admin_timeout_s)
            total = sum(r.size for r in ranges)
            for index, message in enumerate(
                read(consumer, ranges, settings.producer.admin_timeout_s * 4), start=1
            ):
                key = (message.key() or b"").decode("utf-8", "replace")
                if key in wanted:
                    stamp = message.timestamp()[1]
                    found[key] = datetime.fromtimestamp(max(stamp, 0) / 1000, tz=UTC)
                if index % 1000 == 0:
                    notify(Progress("scan", index, total))
    finally:
        consumer.close()
    logger.info("%d of %d requests are already published", len(found), len(entries))
    return found


def _publish(
    publisher: Publisher,
    entries: list[Entry],
    rate: float | None,
    notify: Callable[[Progress], None],
) -> int:
    start = time.monotonic()
    futures: list[Future[Message]] = []
    acknowledged = 0
    notify(Progress("publish", 0, len(entries)))
    for index, entry in enumerate(entries):
        if rate:
            # Pace from the start, so a slow send is caught up rather than lost.
            delay = start + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        futures.append(publisher.send_validated(entry.record))
        acknowledged += _drain(publisher, futures, block=False)
        notify(Progress("publish", acknowledged, len(entries)))
    acknowledged += _drain(publisher, futures, block=True)
    notify(Progress("publish", acknowledged, len(entries)))
    return acknowledged


def _drain(publisher: Publisher, futures: list[Future[Message]], *, block: bool) -> int:
    """Count (and drop) acknowledged sends; a failed one raises ``PublishError``."""
    done = 0
    while futures and (block or futures[0].done()):
        publisher.wait_acknowledged(futures.pop(0))
        done += 1
    return done


def _follow(
    settings: Settings,
    report: BackfillReport,
    *,
    since: datetime,
    timeout_s: float | None,
    completed_topic: str,
    notify: Callable[[Progress], None],
) -> None:
    wanted = {e.request_id for e in report.entries}
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    with OutcomeReader(
        settings, since - CLOCK_SKEW - timedelta(seconds=1), completed_topic=completed_topic
    ) as outcomes:
        while len(report.outcomes) < len(wanted):
            if deadline is not None and time.monotonic() > deadline:
                logger.warning("stopped following with %d pending", report.pending)
                return
            for event in outcomes.poll(0.5):
                # The first outcome wins: exactly-once processing means there is only one.
                if event.request_id in wanted and event.request_id not in report.outcomes:
                    report.outcomes[event.request_id] = event
            failed = len(report.failures)
            notify(
                Progress(
                    "follow",
                    len(report.outcomes),
                    len(wanted),
                    completed=len(report.outcomes) - failed,
                    failed=failed,
                )
            )
