"""What makes two GenerationRequests the same request: their generation fields, hashed.

A producer that retries publishes the same request again, perhaps with a new submitted_at
or trace context; those differ between copies and are left out. A different prompt (or
size, seed, tenant, callback...) under a used request_id is another request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# Fields that may differ between two copies of one request.
_TRANSPORT_FIELDS = frozenset(
    {"submitted_at", "traceparent", "tracestate", "deadline", "priority", "lane", "lineage"}
)


def request_fingerprint(request: Mapping[str, Any]) -> str:
    """sha256 (hex) of the request's generation fields, in a canonical JSON form."""
    fields = {k: v for k, v in request.items() if k not in _TRANSPORT_FIELDS}
    canonical = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
