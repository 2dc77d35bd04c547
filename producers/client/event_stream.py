"""Follow the public event topics from a position (earliest, latest or a time), in no
consumer group: what ``diffstream subscribe`` and ``diffstream watch`` read.

Nothing is committed: each run starts where it is told, so a terminal watching events never
moves the offsets of a real subscriber's group.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition

from diffstream.closing import Closing
from diffstream.settings import Settings
from producers.client.assigned import assigned_reader
from producers.client.events import Event, decoded_events
from producers.client.subscriber import topics_of
from producers.client.topic_lookup import offsets_at, partitions
from producers.exceptions import AdminError
from schemas.codec import Codec

logger = logging.getLogger(__name__)


class EventStream(Closing):
    """Events of ``kinds`` from ``start`` on: ``"earliest"``, ``"latest"`` or a time."""

    def __init__(
        self, settings: Settings, kinds: Iterable[str], start: str | datetime = "latest"
    ) -> None:
        chosen = list(kinds)
        topics = topics_of(settings, chosen, f"--events {','.join(chosen)!r}")
        self._codec = Codec(settings)
        self._consumer = assigned_reader(
            settings, "stream", lambda consumer: _starts(consumer, settings, topics, start)
        )

    def poll(self, timeout_s: float) -> list[Event]:
        """The events that arrived within ``timeout_s`` (possibly none), in partition order."""
        messages = self._consumer.consume(500, timeout=timeout_s)
        return decoded_events(self._codec, messages, what="event")

    def close(self) -> None:
        """Leave: nothing was committed."""
        self._consumer.close()


def _starts(
    consumer: Consumer, settings: Settings, topics: list[str], start: str | datetime
) -> list[TopicPartition]:
    timeout_s = settings.producer.admin_timeout_s
    if not isinstance(start, datetime):
        edge = OFFSET_BEGINNING if start == "earliest" else OFFSET_END
        return [
            TopicPartition(topic, p, edge)
            for topic in topics
            for p in partitions(consumer, topic, timeout_s)
        ]
    try:
        return offsets_at(consumer, topics, start, timeout_s)
    except KafkaException as exc:
        raise AdminError(f"cannot find the offsets at {start.isoformat()}: {exc}") from exc
