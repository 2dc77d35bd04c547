"""Inspect a dead-letter topic (``diffusion.dlq``, ``diffusion.webhooks.dlq``, ...) and
redrive its letters to the topic they came from.

A redrive re-publishes the original key and value bytes with every header, the
``diffstream.dlq.*`` ones included: if the letter fails again, the processor's new
envelope keeps its first-seen time and counts the attempt up (see ``schemas.dlq``).
Redrive progress is the offset committed by its consumer group (one per dead-letter topic),
so running it again redrives only letters that arrived since.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_INVALID, Message, TopicPartition

from diffstream.kafka import make_consumer
from diffstream.settings import Settings
from producers.client.delivery import DeliveryProducer
from producers.client.topic_lookup import full_name
from producers.operations.topic_window import PartitionRange, read, reader, whole_topic
from schemas.dlq import DeadLetter, parse_dead_letter
from schemas.exceptions import DeadLetterError
from schemas.topics import DLQ

logger = logging.getLogger(__name__)

DEFAULT_REDRIVE_GROUP = "diffstream-dlq-redrive"


def redrive_group(dlq_topic: str) -> str:
    """The group holding redrive progress of ``dlq_topic``: ``diffusion.dlq`` keeps the
    historical name, every other dead-letter topic has its own."""
    return DEFAULT_REDRIVE_GROUP if dlq_topic == DLQ else f"{DEFAULT_REDRIVE_GROUP}.{dlq_topic}"


@dataclass(frozen=True)
class DeadLetterEntry:
    """One message of the DLQ: where it is, what its headers say (None if they are not a
    dead-letter envelope), and its size."""

    partition: int
    offset: int
    key: bytes | None
    size: int
    letter: DeadLetter | None
    problem: str | None = None


@dataclass
class RedriveReport:
    """What a redrive did."""

    redriven: list[DeadLetterEntry] = field(default_factory=list)
    skipped: list[DeadLetterEntry] = field(default_factory=list)
    dry_run: bool = False


def list_dead_letters(
    settings: Settings, *, limit: int | None = None, topic: str = DLQ
) -> list[DeadLetterEntry]:
    """Every dead letter in ``topic`` (the newest ``limit`` per partition if given)."""
    consumer = reader(settings)
    timeout_s = settings.producer.admin_timeout_s
    try:
        ranges = whole_topic(consumer, full_name(settings, topic), timeout_s)
        if limit is not None:
            ranges = [
                PartitionRange(r.topic, r.partition, max(r.start, r.end - limit), r.end)
                for r in ranges
            ]
        return [_entry(m) for m in read(consumer, ranges, timeout_s * 4)]
    finally:
        consumer.close()


def redrive(
    settings: Settings,
    *,
    group: str | None = None,
    source_topic: str | None = None,
    dry_run: bool = False,
    topic: str = DLQ,
) -> RedriveReport:
    """Re-publish the dead letters of ``topic`` not yet redriven by ``group`` (default:
    ``redrive_group(topic)``; those from ``source_topic`` only, if given; the others are
    passed over) and commit past them."""
    timeout_s = settings.producer.admin_timeout_s
    group = group or redrive_group(topic)
    topic = full_name(settings, topic)
    report = RedriveReport(dry_run=dry_run)
    consumer = make_consumer(
        settings,
        {
            "group.id": group,
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        },
    )
    try:
        full = whole_topic(consumer, topic, timeout_s)
        committed = consumer.committed(
            [TopicPartition(topic, r.partition) for r in full], timeout=timeout_s
        )
        starts = {tp.partition: tp.offset for tp in committed if tp.offset != OFFSET_INVALID}
        ranges = [
            PartitionRange(
                topic, r.partition, max(starts.get(r.partition, r.start), r.start), r.end
            )
            for r in full
        ]
        chosen: list[tuple[DeadLetterEntry, Message]] = []
        for message in read(consumer, ranges, timeout_s * 4):
            entry = _entry(message)
            if _wanted(settings, entry, source_topic):
                chosen.append((entry, message))
            else:
                report.skipped.append(entry)
        report.redriven = [entry for entry, _ in chosen]
        if dry_run:
            return report
        _publish(settings, chosen)
        ends = [TopicPartition(topic, r.partition, r.end) for r in ranges if r.size]
        if ends:
            consumer.commit(offsets=ends, asynchronous=False)
    finally:
        consumer.close()
    logger.info(
        "redrove %d dead letters, passed over %d", len(report.redriven), len(report.skipped)
    )
    return report


def _wanted(settings: Settings, entry: DeadLetterEntry, source_topic: str | None) -> bool:
    if entry.letter is None:
        return False  # not an envelope: nowhere known to send it
    if entry.letter.truncated_from is not None:
        return False  # only the start of the value was kept: kept for diagnosis
    return source_topic is None or entry.letter.topic in (
        source_topic,
        settings.topic(source_topic),
    )


def _publish(settings: Settings, chosen: list[tuple[DeadLetterEntry, Message]]) -> None:
    producer = DeliveryProducer(settings)
    try:
        futures = [
            producer.send(entry.letter.topic, message.value(), message.key(), _headers(message))
            for entry, message in chosen
            if entry.letter is not None
        ]
        for future in futures:
            producer.wait(future)
    finally:
        producer.close()


def _headers(message: Message) -> list[tuple[str, bytes | None]]:
    headers = message.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    return [(k, v if v is None or isinstance(v, bytes) else str(v).encode()) for k, v in pairs]


def _entry(message: Message) -> DeadLetterEntry:
    headers = _headers(message)
    letter: DeadLetter | None
    problem = None
    try:
        letter = parse_dead_letter(headers)
    except DeadLetterError as exc:
        letter, problem = None, str(exc)
    return DeadLetterEntry(
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        key=message.key() if isinstance(message.key(), bytes) else None,
        size=len(message.value() or b""),
        letter=letter,
        problem=problem,
    )
