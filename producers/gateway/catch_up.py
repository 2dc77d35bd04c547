"""Reading topics from a point in time, and knowing when the reader has caught up."""

from __future__ import annotations

from datetime import datetime

from confluent_kafka import Consumer, KafkaException, TopicPartition

from producers.client.topic_lookup import Ends, starts_at


def assign_since(consumer: Consumer, topics: list[str], since: datetime, timeout_s: float) -> Ends:
    """Assign every partition of ``topics`` from ``since`` on; the ends to catch up to
    (only partitions with something to read)."""
    wanted: list[TopicPartition] = []
    for topic in topics:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise KafkaException(f"topic {topic} does not exist (run `diffstream topics create`)")
        wanted += [TopicPartition(topic, partition) for partition in sorted(metadata.partitions)]
    starts, ends = starts_at(consumer, wanted, since, timeout_s)
    consumer.assign(starts)
    behind = {(s.topic, s.partition) for s in starts if s.offset < ends[(s.topic, s.partition)]}
    return {key: end for key, end in ends.items() if key in behind}


def still_behind(consumer: Consumer, ends: Ends) -> Ends:
    """The partitions of ``ends`` whose position has not reached its end yet."""
    positions = consumer.position([TopicPartition(t, p) for t, p in ends])
    reached = {
        (tp.topic, tp.partition) for tp in positions if tp.offset >= ends[(tp.topic, tp.partition)]
    }
    return {key: end for key, end in ends.items() if key not in reached}
