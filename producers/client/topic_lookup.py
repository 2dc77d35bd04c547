"""Topic look-ups shared by the producers' commands: names with the prefix, partitions."""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaException

from diffstream.settings import Settings
from producers.exceptions import PublishError, TopicNotFoundError


def full_name(settings: Settings, name: str) -> str:
    """``name`` with the deployment's topic prefix, unless it already carries it."""
    prefix = settings.topic_prefix
    return name if prefix and name.startswith(prefix) else settings.topic(name)


def partitions(consumer: Consumer, topic: str, timeout_s: float) -> list[int]:
    """The partition ids of ``topic``; ``TopicNotFoundError`` when it does not exist."""
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
    except KafkaException as exc:
        raise PublishError(f"cannot read the metadata of {topic}: {exc}") from exc
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise TopicNotFoundError(f"topic {topic} does not exist (run `diffstream topics create`?)")
    return sorted(found.partitions)
