"""Topic look-ups shared by the producers' commands: names with the prefix, partitions."""

from __future__ import annotations

import time
from datetime import datetime

from confluent_kafka import OFFSET_END, Consumer, KafkaException, TopicPartition

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


def offsets_at(
    consumer: Consumer, topics: list[str], when: datetime, timeout_s: float
) -> list[TopicPartition]:
    """Every partition of ``topics`` at its first record at or after ``when``, or at its end
    (where the next record lands) when there is none yet; ``KafkaException`` when the
    cluster cannot say."""
    millis = int(when.timestamp() * 1000)
    wanted = [
        TopicPartition(topic, p, millis)
        for topic in topics
        for p in partitions(consumer, topic, timeout_s)
    ]
    found = consumer.offsets_for_times(wanted, timeout=timeout_s)
    return [
        TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_END)
        for tp in found
    ]
