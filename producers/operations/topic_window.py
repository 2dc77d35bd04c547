"""Read a bounded range of offsets per partition, then stop: replays, DLQ listings, scans."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from confluent_kafka import (
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from diffstream.kafka import make_consumer
from diffstream.settings import Settings
from producers.client.topic_lookup import partitions
from producers.exceptions import AdminError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionRange:
    """Offsets ``[start, end)`` of one partition."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        """How many offsets the range spans (records, plus any transaction markers)."""
        return max(self.end - self.start, 0)


def reader(settings: Settings) -> Consumer:
    """A consumer that never commits: it belongs to a throwaway group and is only assigned."""
    return make_consumer(
        settings,
        {
            "group.id": f"diffstream-reader-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        },
    )


def whole_topic(consumer: Consumer, topic: str, timeout_s: float) -> list[PartitionRange]:
    """Every partition of ``topic`` from its low to its high watermark, as of now."""
    ranges = []
    for partition in partitions(consumer, topic, timeout_s):
        low, high = _watermarks(consumer, topic, partition, timeout_s)
        ranges.append(PartitionRange(topic, partition, low, high))
    return ranges


def time_offsets(
    consumer: Consumer, topic: str, when: datetime, timeout_s: float, parts: list[int]
) -> dict[int, int]:
    """Per partition, the first offset whose timestamp is at or after ``when`` (the high
    watermark when there is none)."""
    millis = int(when.timestamp() * 1000)
    try:
        found = consumer.offsets_for_times(
            [TopicPartition(topic, p, millis) for p in parts], timeout=timeout_s
        )
    except KafkaException as exc:
        raise AdminError(f"cannot look up offsets of {topic} at {when.isoformat()}: {exc}") from exc
    result = {}
    for tp in found:
        if tp.error is not None:
            raise AdminError(f"cannot look up offsets of {topic}[{tp.partition}]: {tp.error}")
        offset = tp.offset
        if offset < 0 or offset == OFFSET_END:
            offset = _watermarks(consumer, topic, tp.partition, timeout_s)[1]
        result[tp.partition] = offset
    return result


def read(consumer: Consumer, ranges: list[PartitionRange], timeout_s: float) -> Iterator[Message]:
    """Every record in ``ranges``; ``AdminError`` if they cannot all be read in time."""
    pending = {(r.topic, r.partition): r for r in ranges if r.size > 0}
    if not pending:
        return
    consumer.assign([TopicPartition(r.topic, r.partition, r.start) for r in pending.values()])
    deadline = time.monotonic() + timeout_s
    try:
        while pending:
            if time.monotonic() > deadline:
                left = ", ".join(f"{t}[{p}]" for t, p in pending)
                raise AdminError(f"timed out after {timeout_s:g}s reading {left}")
            message = consumer.poll(0.5)
            if message is None:
                _drop_finished(consumer, pending)
                continue
            key = (message.topic() or "", message.partition() or 0)
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    _drop_finished(consumer, pending)
                    continue
                raise AdminError(f"cannot read {key[0]}[{key[1]}]: {error}")
            wanted = pending.get(key)
            offset = message.offset() or 0
            if wanted is not None and offset < wanted.end:
                yield message
            if wanted is not None and offset >= wanted.end - 1:
                del pending[key]
    finally:
        consumer.unassign()


def _drop_finished(consumer: Consumer, pending: dict[tuple[str, int], PartitionRange]) -> None:
    # Transaction markers occupy offsets too: a range ending on one is done once the
    # position has moved past it, although no record at end - 1 was ever returned.
    positions = consumer.position([TopicPartition(t, p) for t, p in pending])
    for tp in positions:
        if tp.offset >= 0 and tp.offset >= pending[(tp.topic, tp.partition)].end:
            del pending[(tp.topic, tp.partition)]


def _watermarks(
    consumer: Consumer, topic: str, partition: int, timeout_s: float
) -> tuple[int, int]:
    try:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=timeout_s, cached=False
        )
    except KafkaException as exc:
        raise AdminError(f"cannot read the offsets of {topic}[{partition}]: {exc}") from exc
    return int(low), int(high)
