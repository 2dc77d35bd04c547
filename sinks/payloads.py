"""The JSON body of a webhook: one shape for every event, stable across retries.

```json
{"type": "generation.completed",          // or "generation.failed"
 "timestamp": "2025-01-31T12:00:00.123+00:00",  // the event's own time
 "data": { ...the GenerationCompleted / GenerationFailed record... }}
```

``data`` is the Avro record as JSON: timestamps as ISO 8601 strings (UTC), UUIDs as strings,
enums as their symbols, nulls as null. The body is built from the event alone, so every
retry (and a redelivery after a restart) sends the same bytes under the same webhook-id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from schemas.events import EventName
from schemas.json_values import jsonable

EVENT_TYPES = {EventName.COMPLETED: "generation.completed", EventName.FAILED: "generation.failed"}
CALLBACK_EVENTS = {EventName.COMPLETED: "completed", EventName.FAILED: "failed"}
EVENT_TIMES = {EventName.COMPLETED: "completed_at", EventName.FAILED: "failed_at"}


def webhook_id(request_id: object, event: EventName) -> str:
    """The webhook-id of a request's event: the same for every attempt and every redelivery."""
    return f"msg_{request_id}_{CALLBACK_EVENTS[event]}"


def webhook_body(event: EventName, record: Mapping[str, Any]) -> bytes:
    """The UTF-8 JSON body of ``record`` (a GenerationCompleted or GenerationFailed)."""
    payload = {
        "type": EVENT_TYPES[event],
        "timestamp": jsonable(record[EVENT_TIMES[event]]),
        "data": jsonable(record),
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
