"""One request as the gateway shows it, and where each of its events stands."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas.events import ErrorCode, RequestState

QUEUED, RUNNING, COMPLETED_STATE = "queued", "running", "completed"
FAILED_STATE, CANCELLED_STATE, EXPIRED_STATE = "failed", "cancelled", "expired"
TERMINAL = frozenset({COMPLETED_STATE, FAILED_STATE, CANCELLED_STATE, EXPIRED_STATE})
STATES = (QUEUED, RUNNING, COMPLETED_STATE, FAILED_STATE, CANCELLED_STATE, EXPIRED_STATE)
STATE_RANK = {QUEUED: 1, RUNNING: 2} | dict.fromkeys(TERMINAL, 3)
# Where an event stands in its request's stream: (state rank, attempt, step). The same on
# every instance, so an SSE stream resumes (Last-Event-ID) on any of them.
EventOrder = tuple[int, int, int]


def event_id(order: EventOrder) -> str:
    """The SSE id of an event, e.g. ``2.1.11`` (running, attempt 1, step 11)."""
    return ".".join(str(part) for part in order)


def parse_event_id(text: str | None) -> EventOrder | None:
    """The order an SSE id stands for; None when it is not one of ours."""
    parts = (text or "").split(".")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


@dataclass(slots=True)
class Generation:
    """One request as the gateway shows it; ``events`` is its SSE stream so far."""

    request_id: str
    seq: int
    tenant: str | None = None
    request: dict[str, Any] | None = None
    state: str | None = None
    step: int | None = None
    steps: int | None = None
    error: dict[str, Any] | None = None
    images: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, Any] | None = None
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    batch_id: str | None = None
    model: str | None = None
    events: list[tuple[str, dict[str, Any], EventOrder]] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        """Whether the request has ended (completed, failed, cancelled or expired)."""
        return self.state in TERMINAL

    @property
    def labels(self) -> dict[str, str]:
        """The request's labels (empty until its request event is read)."""
        return dict((self.request or {}).get("labels") or {})


def emit(item: Generation, name: str, data: dict[str, Any], order: EventOrder) -> None:
    """Append an event unless the stream is already past it (a step read twice)."""
    if not item.events or order > item.events[-1][2]:
        item.events.append((name, data, order))


def failed_state(state: str, code: object) -> str:
    if state == RequestState.CANCELLED or code == ErrorCode.CANCELLED:
        return CANCELLED_STATE
    return EXPIRED_STATE if code == ErrorCode.EXPIRED else FAILED_STATE
