"""Typed events as producers hand them to callers: the decoded record plus where it was read."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Message

from schemas.codec import Codec
from schemas.events import EventName
from schemas.exceptions import DecodeError

logger = logging.getLogger(__name__)

# Short names used by the APIs and the CLI (subscribe(events=("completed", "failed"))).
KINDS: dict[EventName, str] = {
    EventName.REQUEST: "request",
    EventName.RESULT: "result",
    EventName.COMPLETED: "completed",
    EventName.FAILED: "failed",
    EventName.STATUS: "status",
    EventName.CANCEL: "cancel",
    EventName.PROGRESS: "progress",
    EventName.USAGE: "usage",
}


@dataclass(frozen=True)
class Event:
    """One decoded event: ``kind`` ("completed", "failed", ...), the Avro record, coordinates."""

    kind: str
    value: dict[str, Any]
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None

    @property
    def request_id(self) -> str:
        """The request this event is about."""
        return str(self.value["request_id"])

    @property
    def image_uris(self) -> list[str]:
        """``s3://`` URIs of the stored images (completed events; empty otherwise)."""
        return [str(image["uri"]) for image in self.value.get("images", ()) if "uri" in image]

    @property
    def error_code(self) -> str | None:
        """The error code of a failed event, else None."""
        code = self.value.get("error_code")
        return str(code) if code is not None else None

    @property
    def message(self) -> str | None:
        """The error message of a failed event, else None."""
        text = self.value.get("message")
        return str(text) if text is not None else None

    @property
    def coordinates(self) -> str:
        """``topic[partition]@offset``."""
        return f"{self.topic}[{self.partition}]@{self.offset}"


def kind_of(event: EventName) -> str:
    """The short name of an event (``KINDS``), or its own name for another."""
    return KINDS.get(event, str(event))


def decoded_events(
    codec: Codec,
    messages: Iterable[Message],
    *,
    kind: Callable[[EventName], str] = kind_of,
    what: str = "event",
) -> list[Event]:
    """The events of ``messages`` in order; errors and undecodable values are logged and
    skipped (``what`` names them in the log)."""
    events = []
    for message in messages:
        if message.error() is not None:
            logger.warning("%s reader: %s", what, message.error())
            continue
        try:
            decoded = codec.decode_message(message)
        except DecodeError as exc:
            logger.warning("skipping an undecodable %s: %s", what, exc)
            continue
        stamp = message.timestamp()[1]
        events.append(
            Event(
                kind=kind(decoded.event),
                value=decoded.value,
                topic=message.topic() or "",
                partition=message.partition() or 0,
                offset=message.offset() or 0,
                timestamp_ms=stamp if stamp > 0 else None,
            )
        )
    return events
