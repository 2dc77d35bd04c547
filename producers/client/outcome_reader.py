"""Follow the outcome topics (``diffusion.completed``, ``diffusion.failed``) from a point in
time, read_committed: what ``wait()``, ``publish --wait`` and ``backfill --follow`` read."""

from __future__ import annotations

import logging
from datetime import datetime

from confluent_kafka import Consumer, KafkaException, TopicPartition

from diffstream.closing import Closing
from diffstream.settings import Settings
from producers.client.assigned import assigned_reader
from producers.client.events import Event, decoded_events, kind_of
from producers.client.topic_lookup import full_name, offsets_at
from producers.exceptions import AdminError
from schemas.codec import Codec
from schemas.events import EventName
from schemas.topics import COMPLETED, FAILED

logger = logging.getLogger(__name__)

# Where completions are read; the tests point it at diffusion.results until the image
# sink writes diffusion.completed.
DEFAULT_COMPLETED_TOPIC = COMPLETED


class OutcomeReader(Closing):
    """Reads completed and failed events written at or after ``since``, on every partition."""

    def __init__(
        self,
        settings: Settings,
        since: datetime,
        *,
        completed_topic: str = DEFAULT_COMPLETED_TOPIC,
        failed_topic: str = FAILED,
        codec: Codec | None = None,
    ) -> None:
        self._codec = codec or Codec(settings)
        topics = [full_name(settings, name) for name in (completed_topic, failed_topic)]
        self._consumer = assigned_reader(
            settings, "outcomes", lambda consumer: _starts(consumer, settings, topics, since)
        )

    def poll(self, timeout_s: float) -> list[Event]:
        """The outcomes that arrived within ``timeout_s`` (possibly none)."""
        messages = self._consumer.consume(500, timeout=timeout_s)
        return decoded_events(self._codec, messages, kind=_kind_of, what="outcome")

    def close(self) -> None:
        """Leave: nothing was committed, so nothing is lost."""
        self._consumer.close()


def _kind_of(event: EventName) -> str:
    # A GenerationResult stands in for a completion while no image sink runs.
    kind = kind_of(event)
    return "completed" if kind == "result" else kind


def _starts(
    consumer: Consumer, settings: Settings, topics: list[str], since: datetime
) -> list[TopicPartition]:
    try:
        return offsets_at(consumer, topics, since, settings.producer.admin_timeout_s)
    except KafkaException as exc:
        raise AdminError(f"cannot find where to start reading outcomes: {exc}") from exc
