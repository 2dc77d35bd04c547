"""The pure fold behind the status view: events in, the latest state per request out.

Events about one request travel on different topics, so they can arrive in any order
(a completed event before its request, a late ``processing`` after ``completed``). The
fold is order-insensitive: a state replaces another only if it is further along, or as
far along and newer; details (model, tenant, batch, URIs, errors) are merged in whatever
order they come. Applying an event twice changes nothing, so redelivery is harmless.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from schemas.events import EventName, RequestState

View = dict[str, Any]
Counts = dict[str, int]

# How far along a state is; terminal states share the top rank.
_RANK: dict[str, int] = {
    RequestState.UNKNOWN: 0,
    RequestState.QUEUED: 1,
    RequestState.PROCESSING: 2,
    RequestState.GENERATED: 3,
    RequestState.COMPLETED: 4,
    RequestState.FAILED: 4,
    RequestState.CANCELLED: 4,
}
# Which batch count a state adds to.
BUCKETS: tuple[str, ...] = ("queued", "processing", "completed", "failed", "cancelled")
_BUCKET: dict[str, str] = {
    RequestState.UNKNOWN: "queued",
    RequestState.QUEUED: "queued",
    RequestState.PROCESSING: "processing",
    RequestState.GENERATED: "processing",
    RequestState.COMPLETED: "completed",
    RequestState.FAILED: "failed",
    RequestState.CANCELLED: "cancelled",
}
FOLDED: frozenset[EventName] = frozenset(
    {EventName.REQUEST, EventName.STATUS, EventName.COMPLETED, EventName.FAILED}
)


def empty_view(request_id: str) -> View:
    """The view of a request nothing is known about yet."""
    return {
        "request_id": request_id,
        "state": RequestState.UNKNOWN.value,
        "model": None,
        "tenant": None,
        "batch_id": None,
        "lane": None,
        "submitted_at": None,
        "updated_at": None,
        "attempt": 0,
        "image_uris": [],
        "error_code": None,
        "message": None,
        "retryable": None,
        "timings": None,
    }


def fold(view: Mapping[str, Any] | None, event: EventName, record: Mapping[str, Any]) -> View:
    """``view`` with ``record`` (a decoded ``event``) applied; a new dict, inputs untouched."""
    request_id = _text(record["request_id"])
    new = dict(view) if view is not None else empty_view(request_id)
    new["image_uris"] = list(new.get("image_uris") or [])
    if event is EventName.REQUEST:
        _merge(new, record, ("model", "tenant", "batch_id", "lane"))
        _fill(new, "submitted_at", _time(record.get("submitted_at")))
        _advance(new, RequestState.QUEUED, _time(record.get("submitted_at")))
    elif event is EventName.STATUS:
        _merge(new, record, ("model", "tenant", "batch_id"))
        if _advance(new, record["state"], _time(record.get("updated_at"))):
            new["attempt"] = max(int(new["attempt"] or 0), int(record.get("attempt") or 0))
            if record.get("error_code") is not None:
                new["error_code"] = _text(record["error_code"])
            if record.get("message") is not None:
                new["message"] = record["message"]
        if record.get("image_uris"):
            new["image_uris"] = list(record["image_uris"])
    elif event is EventName.COMPLETED:
        _terminal(new, record, RequestState.COMPLETED, "completed_at")
        new["image_uris"] = [image["uri"] for image in record.get("images") or []]
        if record.get("timings") is not None:
            new["timings"] = dict(record["timings"])
    elif event is EventName.FAILED:
        _terminal(new, record, RequestState.FAILED, "failed_at")
        new["error_code"] = _text(record["error_code"])
        new["message"] = record.get("message")
        new["retryable"] = bool(record.get("retryable"))
    return new


def bucket(view: Mapping[str, Any] | None) -> str | None:
    """The batch count ``view`` adds to, or None when it belongs to no batch."""
    if view is None or not view.get("batch_id"):
        return None
    return _BUCKET.get(str(view["state"]), "queued")


def batch_deltas(
    old: Mapping[str, Any] | None, new: Mapping[str, Any]
) -> list[tuple[str, str, int]]:
    """The ``(batch_id, bucket, +1/-1)`` changes to the batch counts when ``old`` becomes
    ``new``; empty when the request stays where it was (e.g. the same event again)."""
    before = (old.get("batch_id"), bucket(old)) if old is not None else (None, None)
    after = (new.get("batch_id"), bucket(new))
    if before == after:
        return []
    deltas: list[tuple[str, str, int]] = []
    if before[0] and before[1]:
        deltas.append((str(before[0]), before[1], -1))
    if after[0] and after[1]:
        deltas.append((str(after[0]), after[1], +1))
    return deltas


def add_counts(counts: Mapping[str, int] | None, bucket_name: str, delta: int) -> Counts:
    """``counts`` with ``delta`` added to one bucket; a new dict."""
    new = {name: int((counts or {}).get(name, 0)) for name in BUCKETS}
    new[bucket_name] = new.get(bucket_name, 0) + delta
    return new


def summarize(batch_id: str, parts: Iterable[Mapping[str, int]]) -> dict[str, Any]:
    """A batch's counts summed over its per-partition parts, with ``total``."""
    totals = {name: 0 for name in BUCKETS}
    for part in parts:
        for name in BUCKETS:
            totals[name] += int(part.get(name, 0))
    return {"batch_id": batch_id, "total": sum(totals.values()), **totals}


def _advance(view: View, state: Any, at: str | None) -> bool:
    """Move ``view`` to ``state`` if that is further along, or as far and not older."""
    state = _text(state)
    rank, current = _RANK.get(state, 0), _RANK.get(str(view["state"]), 0)
    previous = view.get("updated_at")
    newer = previous is None or (at is not None and at >= previous)
    if rank > current or (rank == current and newer):
        view["state"] = state
        view["updated_at"] = at if at is not None else previous
        return True
    return False


def _terminal(view: View, record: Mapping[str, Any], state: RequestState, at: str) -> None:
    """What a completion and a failure both bring: the model, the trace context, the final
    ``state`` as of the record's ``at`` field, and the attempt."""
    _merge(view, record, ("model",))
    _merge_context(view, record.get("context"))
    _advance(view, state, _time(record.get(at)))
    view["attempt"] = max(int(view["attempt"] or 0), int(record.get("attempt") or 0))


def _merge(view: View, record: Mapping[str, Any], fields: Iterable[str]) -> None:
    for field in fields:
        _fill(view, field, record.get(field))


def _merge_context(view: View, context: Mapping[str, Any] | None) -> None:
    if context is not None:
        _merge(view, context, ("tenant", "batch_id", "lane"))
        _fill(view, "submitted_at", _time(context.get("submitted_at")))


def _fill(view: View, field: str, value: Any) -> None:
    if value is not None and view.get(field) is None:
        view[field] = _text(value)


def _time(value: Any) -> str | None:
    """A ``timestamp-millis`` as an ISO 8601 UTC string with milliseconds, so that two of
    them compare as strings in time order."""
    if value is None:
        return None
    moment: datetime
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(value / 1000, UTC)
    elif isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    else:
        return str(value)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _text(value: Any) -> Any:
    """Enum members and UUIDs as plain strings (what JSON and the tables hold)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    return getattr(value, "value", value)
