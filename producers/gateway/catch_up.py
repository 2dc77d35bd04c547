"""Reading topics from a point in time, and knowing when the reader has caught up."""

from __future__ import annotations

from datetime import datetime

from confluent_kafka import OFFSET_END, Consumer, KafkaException, TopicPartition

# The end offset of each partition still to be reached: (topic, partition) -> offset.
Ends = dict[tuple[str, int], int]


def assign_since(consumer: Consumer, topics: list[str], since: datetime, timeout_s: float) -> Ends:
    """Assign every partition of ``topics`` from ``since`` on; the ends to catch up to
    (only partitions with something to read)."""
    millis = int(since.timestamp() * 1000)
    wanted: list[TopicPartition] = []
    ends: Ends = {}
    for topic in topics:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise KafkaException(f"topic {topic} does not exist (run `diffstream topics create`)")
        for partition in sorted(metadata.partitions):
            tp = TopicPartition(topic, partition)
            ends[(topic, partition)] = consumer.get_watermark_offsets(tp, timeout=timeout_s)[1]
            wanted.append(TopicPartition(topic, partition, millis))
    found = consumer.offsets_for_times(wanted, timeout=timeout_s)
    starts = [
        TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_END)
        for tp in found
    ]
    consumer.assign(starts)
    return {
        key: end
        for key, end in ends.items()
        if any(s.topic == key[0] and s.partition == key[1] and 0 <= s.offset < end for s in starts)
    }


def still_behind(consumer: Consumer, ends: Ends) -> Ends:
    """The partitions of ``ends`` whose position has not reached its end yet."""
    positions = consumer.position([TopicPartition(t, p) for t, p in ends])
    reached = {
        (tp.topic, tp.partition) for tp in positions if tp.offset >= ends[(tp.topic, tp.partition)]
    }
    return {key: end for key, end in ends.items() if key not in reached}
