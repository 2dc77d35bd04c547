"""The JSON body of a webhook: one shape for every event, stable across retries.

```json
{"type": "generation.completed",          // or "generation.failed", "generation.status"
 "timestamp": "2025-01-31T12:00:00.123+00:00",  // the event's own time
 "data": { ...the GenerationCompleted / GenerationFailed / RequestStatus record... }}
```

``data`` is the Avro record as JSON: timestamps as ISO 8601 strings (UTC), UUIDs as strings,
enums as their symbols, nulls as null. The body is built from the event alone, so every
retry (and a redelivery after a restart) sends the same bytes under the same webhook-id.

A status webhook also has ``"sequence"``: the status event's offset in its partition of
``diffusion.status``. A request's status events share a partition, so its sequence grows
with every state change (not by one: other requests share the partition); a receiver that
keeps the highest it saw per request can drop a repeat or a late redrive. Its ``data`` leaves
out the callback (the receiver's own URL).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from schemas.events import EventName
from schemas.json_values import jsonable

EVENT_TYPES = {
    EventName.COMPLETED: "generation.completed",
    EventName.FAILED: "generation.failed",
    EventName.STATUS: "generation.status",
}
CALLBACK_EVENTS = {
    EventName.COMPLETED: "completed",
    EventName.FAILED: "failed",
    EventName.STATUS: "status",
}
EVENT_TIMES = {
    EventName.COMPLETED: "completed_at",
    EventName.FAILED: "failed_at",
    EventName.STATUS: "updated_at",
}


def webhook_id(request_id: object, event: EventName, sequence: int | None = None) -> str:
    """The webhook-id of a request's event: the same for every attempt and every redelivery
    (a status event's also names its sequence: a request has one per state change)."""
    base = f"msg_{request_id}_{CALLBACK_EVENTS[event]}"
    return base if sequence is None else f"{base}_{sequence}"


def webhook_body(event: EventName, record: Mapping[str, Any], sequence: int | None = None) -> bytes:
    """The UTF-8 JSON body of ``record`` (a GenerationCompleted, GenerationFailed, or a
    RequestStatus read at offset ``sequence``)."""
    payload: dict[str, Any] = {
        "type": EVENT_TYPES[event],
        "timestamp": jsonable(record[EVENT_TIMES[event]]),
    }
    if event is EventName.STATUS:
        payload["sequence"] = sequence
        record = {name: value for name, value in record.items() if name != "callback"}
    payload["data"] = jsonable(record)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
