"""A consumer that only reads where it is assigned, in a throwaway group, committing nothing:
a watch or a wait never moves the offsets of a real subscriber's group."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from diffstream.kafka import make_consumer
from diffstream.settings import Settings


def assigned_reader(
    settings: Settings, name: str, starts: Callable[[Consumer], list[TopicPartition]]
) -> Consumer:
    """A read_committed consumer of group ``diffstream-{name}-<uuid>``, assigned to what
    ``starts`` finds with it; closed again when that fails."""
    consumer = make_consumer(
        settings,
        {
            "group.id": f"diffstream-{name}-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        },
    )
    try:
        consumer.assign(starts(consumer))
    except Exception:
        consumer.close()
        raise
    return consumer
