"""Typed events as producers hand them to callers: the decoded record plus where it was read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.events import EventName

# Short names used by the APIs and the CLI (subscribe(events=("completed", "failed"))).
KINDS: dict[EventName, str] = {
    EventName.REQUEST: "request",
    EventName.RESULT: "result",
    EventName.COMPLETED: "completed",
    EventName.FAILED: "failed",
    EventName.STATUS: "status",
    EventName.CANCEL: "cancel",
    EventName.PROGRESS: "progress",
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
