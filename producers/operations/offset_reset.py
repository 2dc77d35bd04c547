"""Reset a consumer group's committed offsets, only while the group has no active members.

Kafka itself refuses to alter the offsets of a group with members; checking first lets the
error list who they are, so the operator knows what to stop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from diffstream.kafka import make_admin
from diffstream.settings import Settings
from producers.client.topic_lookup import full_name
from producers.exceptions import AdminError, GroupHasMembersError, InputError

logger = logging.getLogger(__name__)

Target = Literal["earliest", "latest", "time"]


@dataclass(frozen=True)
class OffsetChange:
    """One partition's committed offset before and after (``None``: none was committed)."""

    topic: str
    partition: int
    before: int | None
    after: int


def group_members(admin: AdminClient, group: str, timeout_s: float) -> list[str]:
    """The group's active members, each as ``client_id@host (member_id): assignment``."""
    description = _result(admin.describe_consumer_groups([group]), group, timeout_s)
    members = []
    for member in description.members:
        assigned = ", ".join(
            f"{tp.topic}[{tp.partition}]" for tp in member.assignment.topic_partitions
        )
        members.append(
            f"{member.client_id}@{member.host} ({member.member_id}): {assigned or 'no partitions'}"
        )
    return members


def reset_offsets(
    settings: Settings,
    group: str,
    *,
    to: Target,
    when: datetime | None = None,
    topics: Sequence[str] = (),
    dry_run: bool = False,
) -> list[OffsetChange]:
    """Move ``group``'s offsets on ``topics`` (default: every topic it has committed) to the
    earliest, the latest, or the first offset at or after ``when``."""
    if to == "time" and when is None:
        raise InputError("--to-time needs a time")
    timeout_s = settings.producer.admin_timeout_s
    admin = make_admin(settings)
    members = group_members(admin, group, timeout_s)
    if members:
        raise GroupHasMembersError(group, members)
    committed = _committed(admin, group, timeout_s)
    names = [full_name(settings, t) for t in topics] or sorted({t for t, _ in committed})
    if not names:
        raise InputError(f"group {group!r} has no committed offsets: name the topics (--topic)")
    partitions = _partitions(admin, names, timeout_s)
    targets = _targets(admin, partitions, to, when, timeout_s)
    changes = [
        OffsetChange(topic, partition, committed.get((topic, partition)), offset)
        for (topic, partition), offset in sorted(targets.items())
    ]
    if dry_run:
        return changes
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(c.topic, c.partition, c.after) for c in changes]
    )
    altered = _result(admin.alter_consumer_group_offsets([request]), group, timeout_s)
    for tp in altered.topic_partitions:
        if tp.error is not None:
            raise AdminError(f"cannot reset {tp.topic}[{tp.partition}] of {group!r}: {tp.error}")
    logger.info("reset %d offsets of group %s to %s", len(changes), group, when or to)
    return changes


def _committed(admin: AdminClient, group: str, timeout_s: float) -> dict[tuple[str, int], int]:
    listed = _result(
        admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)]), group, timeout_s
    )
    return {
        (tp.topic, tp.partition): tp.offset
        for tp in listed.topic_partitions or ()
        if tp.offset >= 0
    }


def _partitions(admin: AdminClient, topics: list[str], timeout_s: float) -> list[tuple[str, int]]:
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise AdminError(f"cannot list topics: {exc}") from exc
    found = []
    for topic in topics:
        described = metadata.topics.get(topic)
        if described is None or not described.partitions:
            raise InputError(f"topic {topic} does not exist")
        found += [(topic, p) for p in sorted(described.partitions)]
    return found


def _targets(
    admin: AdminClient,
    partitions: list[tuple[str, int]],
    to: Target,
    when: datetime | None,
    timeout_s: float,
) -> dict[tuple[str, int], int]:
    def spec(kind: Target) -> Any:
        if kind == "earliest":
            return OffsetSpec.earliest()  # type: ignore[no-untyped-call]
        if kind == "latest":
            return OffsetSpec.latest()  # type: ignore[no-untyped-call]
        assert when is not None
        return OffsetSpec.for_timestamp(int(when.timestamp() * 1000))

    found = _offsets(admin, partitions, spec(to), timeout_s)
    # No record at or after the time: the end, where the next record will land.
    late = [key for key, offset in found.items() if offset < 0]
    if late:
        found.update(_offsets(admin, late, spec("latest"), timeout_s))
    return found


def _offsets(
    admin: AdminClient, partitions: list[tuple[str, int]], spec: Any, timeout_s: float
) -> dict[tuple[str, int], int]:
    futures = admin.list_offsets(
        {TopicPartition(t, p): spec for t, p in partitions}, request_timeout=timeout_s
    )
    result = {}
    for tp, future in futures.items():
        try:
            result[(tp.topic, tp.partition)] = int(future.result(timeout=timeout_s).offset)
        except KafkaException as exc:
            raise AdminError(f"cannot list offsets of {tp.topic}[{tp.partition}]: {exc}") from exc
    return result


def _result(futures: dict[Any, Future[Any]], group: str, timeout_s: float) -> Any:
    try:
        return next(iter(futures.values())).result(timeout=timeout_s)
    except KafkaException as exc:
        raise AdminError(f"consumer group {group!r}: {exc}") from exc
    except TimeoutError:
        raise AdminError(f"consumer group {group!r}: no answer within {timeout_s:g}s") from None
