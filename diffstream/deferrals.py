"""Partitions set aside for a while: a message of theirs could not be processed yet."""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, Message, TopicPartition

from diffstream.consuming import rewind
from diffstream.exceptions import DeferMessage
from diffstream.loop_contract import Key

log = logging.getLogger(__name__)


class Deferrals:
    """Which partitions are paused until when; the others keep flowing."""

    def __init__(self) -> None:
        self._until: dict[Key, float] = {}

    def __contains__(self, key: Key) -> bool:
        return key in self._until

    def defer(self, consumer: Consumer, message: Message, defer: DeferMessage) -> None:
        """Pause ``message``'s partition and rewind it to ``message`` for ``defer.delay_s``."""
        key = (message.topic() or "", message.partition() or 0)
        tp = TopicPartition(key[0], key[1], message.offset() or 0)
        log.warning(
            "%s[%d]@%d not processed yet, read again in %.1fs: %s",
            key[0],
            key[1],
            tp.offset,
            defer.delay_s,
            defer,
        )
        consumer.pause([tp])
        rewind(consumer, [message])
        self._until[key] = time.monotonic() + defer.delay_s

    def take_due(self) -> list[TopicPartition]:
        """The partitions whose time is up, no longer deferred."""
        now = time.monotonic()
        due = [key for key, at in self._until.items() if at <= now]
        for key in due:
            del self._until[key]
        return [TopicPartition(topic, partition) for topic, partition in due]

    def forget(self, keys: set[Key]) -> None:
        for key in keys:
            self._until.pop(key, None)

    def clear(self) -> None:
        self._until.clear()
