"""Topic look-ups shared by the producers' commands: names with the prefix, partitions."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaException

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
