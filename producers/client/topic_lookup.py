"""Topic look-ups shared by the producers' commands: names with the prefix, partitions."""

from __future__ import annotations

import time
from datetime import datetime

from confluent_kafka import Consumer, KafkaException, TopicPartition

from diffstream.settings import Settings
from producers.exceptions import PublishError, TopicNotFoundError

NEW_TOPIC_GRACE_S = 5.0


def full_name(settings: Settings, name: str) -> str:
    """``name`` with the deployment's topic prefix, unless it already carries it."""
    prefix = settings.topic_prefix
    return name if prefix and name.startswith(prefix) else settings.topic(name)


def partitions(consumer: Consumer, topic: str, timeout_s: float) -> list[int]:
    """The partition ids of ``topic``; ``TopicNotFoundError`` when it does not exist.

    A topic created a moment ago may be unknown to the broker asked for a little while
    (metadata propagates from the controller): it is asked again for up to
    ``NEW_TOPIC_GRACE_S``.
    """
    deadline = time.monotonic() + min(NEW_TOPIC_GRACE_S, timeout_s)
    while True:
        try:
            metadata = consumer.list_topics(topic, timeout=timeout_s)
        except KafkaException as exc:
            raise PublishError(f"cannot read the metadata of {topic}: {exc}") from exc
        found = metadata.topics.get(topic)
        if found is not None and found.error is None and found.partitions:
            return sorted(found.partitions)
        if time.monotonic() >= deadline:
            raise TopicNotFoundError(
                f"topic {topic} does not exist (run `diffstream topics create`?)"
            )
        time.sleep(0.2)


# Each partition's stable end: (topic, partition) -> offset.
Ends = dict[tuple[str, int], int]


def offsets_at(
    consumer: Consumer, topics: list[str], when: datetime, timeout_s: float
) -> list[TopicPartition]:
    """Every partition of ``topics`` where ``starts_at`` puts it; ``KafkaException`` when the
    cluster cannot say."""
    wanted = [
        TopicPartition(topic, p) for topic in topics for p in partitions(consumer, topic, timeout_s)
    ]
    return starts_at(consumer, wanted, when, timeout_s)[0]


def starts_at(
    consumer: Consumer, wanted: list[TopicPartition], when: datetime, timeout_s: float
) -> tuple[list[TopicPartition], Ends]:
    """Each of ``wanted`` at its first record at or after ``when`` or, with none yet, at the
    end it had before that look-up; and those ends.

    The ends are offsets, looked up first: "the end" (``OFFSET_END``) is only resolved when
    the consumer starts fetching, and what landed in between was skipped (one CI run's
    ``watch`` missed its completed event). A read_committed consumer's end is the last
    stable offset, so a transaction open at the look-up is read once it commits."""
    ends = {
        (tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=timeout_s)[1]
        for tp in wanted
    }
    millis = int(when.timestamp() * 1000)
    found = consumer.offsets_for_times(
        [TopicPartition(tp.topic, tp.partition, millis) for tp in wanted], timeout=timeout_s
    )
    starts = [
        TopicPartition(
            tp.topic, tp.partition, tp.offset if tp.offset >= 0 else ends[(tp.topic, tp.partition)]
        )
        for tp in found
    ]
    return starts, ends
