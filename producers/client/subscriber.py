"""The subscriber API: typed events from the public topics, committed after processing.

    with subscribe(events=("completed", "failed"), group="thumbnailer") as events:
        for event in events:
            handle(event)        # committed when the next event is asked for

An event is committed when the caller asks for the next one (or calls ``ack()``), so a
crash while handling it redelivers it to the group: at-least-once, keyed by request_id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Iterator

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from diffstream.closing import Closing
from diffstream.kafka import make_consumer
from diffstream.settings import Settings
from producers.client.events import KINDS, Event
from producers.exceptions import InputError
from schemas.codec import Codec
from schemas.exceptions import DecodeError
from schemas.topics import (
    COMPLETED,
    FAILED,
    PROGRESS,
    REQUESTS,
    REQUESTS_BATCH,
    RESULTS,
    STATUS,
    USAGE,
)

logger = logging.getLogger(__name__)

TOPICS_OF: dict[str, tuple[str, ...]] = {
    "completed": (COMPLETED,),
    "failed": (FAILED,),
    "status": (STATUS,),
    "result": (RESULTS,),
    "request": (REQUESTS, REQUESTS_BATCH),
    "progress": (PROGRESS,),
    "usage": (USAGE,),
}


def topics_of(settings: Settings, kinds: list[str], named: str) -> list[str]:
    """The topics that carry events of ``kinds``; ``InputError`` for none or an unknown one,
    ``named`` being how the caller was given them (a flag, a parameter)."""
    if not kinds or any(kind not in TOPICS_OF for kind in kinds):
        raise InputError(f"{named}: choose from {sorted(TOPICS_OF)}")
    return sorted({settings.topic(t) for kind in kinds for t in TOPICS_OF[kind]})


class Subscription(Closing):
    """An iterator (and async iterator) of events for one member of a consumer group."""

    def __init__(
        self,
        settings: Settings,
        events: Iterable[str],
        group: str,
        *,
        from_beginning: bool = False,
        poll_timeout_s: float = 0.5,
    ) -> None:
        kinds = list(events)
        topics = topics_of(settings, kinds, f"events={kinds!r}")
        self._codec = Codec(settings)
        self._poll_timeout_s = poll_timeout_s
        self._pending: Message | None = None  # handed out, not yet committed
        self._consumer: Consumer = make_consumer(
            settings,
            {
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest" if from_beginning else "latest",
                "isolation.level": "read_committed",
            },
        )
        self._consumer.subscribe(topics)

    def poll(self, timeout_s: float) -> Event | None:
        """The next event within ``timeout_s`` (committing the previous one), or None."""
        self.ack()
        message = self._consumer.poll(timeout_s)
        if message is None:
            return None
        if message.error() is not None:
            logger.warning("subscriber: %s", message.error())
            return None
        self._pending = message
        try:
            decoded = self._codec.decode_message(message)
        except DecodeError as exc:
            logger.warning("skipping an undecodable event: %s", exc)
            return None
        stamp = message.timestamp()[1]
        return Event(
            kind=KINDS[decoded.event],
            value=decoded.value,
            topic=message.topic() or "",
            partition=message.partition() or 0,
            offset=message.offset() or 0,
            timestamp_ms=stamp if stamp > 0 else None,
        )

    def ack(self) -> None:
        """Commit the event handed out last (done for you when the next one is asked for)."""
        message, self._pending = self._pending, None
        if message is None:
            return
        offset = TopicPartition(
            message.topic() or "", message.partition() or 0, (message.offset() or 0) + 1
        )
        try:
            self._consumer.commit(offsets=[offset], asynchronous=False)
        except KafkaException as exc:
            # The partition moved to another member during a rebalance: it redelivers.
            logger.warning("could not commit %s: %s", offset, exc)

    def __iter__(self) -> Iterator[Event]:
        while True:
            event = self.poll(self._poll_timeout_s)
            if event is not None:
                yield event

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._async_events()

    async def _async_events(self) -> AsyncIterator[Event]:
        while True:
            event = await asyncio.to_thread(self.poll, self._poll_timeout_s)
            if event is not None:
                yield event

    def close(self, *, commit: bool = True) -> None:
        """Leave the group; ``commit``: the last event counts as processed."""
        if commit:
            self.ack()
        self._consumer.close()

    def on_exit(self, *, failed: bool) -> None:
        # An exception while handling the last event leaves it uncommitted: redelivered.
        self.close(commit=not failed)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, exc_type: object, *_: object) -> None:
        await asyncio.to_thread(self.close, commit=exc_type is None)


def subscribe(
    events: Iterable[str] = ("completed", "failed"),
    *,
    group: str,
    settings: Settings | None = None,
    from_beginning: bool = False,
) -> Subscription:
    """Join ``group`` and iterate (``for`` or ``async for``) over typed events of ``events``
    ("completed", "failed", "progress", "status", "result", "request")."""
    return Subscription(settings or Settings(), events, group, from_beginning=from_beginning)
