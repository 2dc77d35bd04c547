"""Names of the event types and of the Avro enums, for code that builds or reads events.

The ``.avsc`` files are the source of truth; a unit test checks these mirrors against them.
"""

from __future__ import annotations

from enum import StrEnum

NAMESPACE = "io.diffstream.v1"


class EventName(StrEnum):
    """The event types; each value is the record name and the folder of its ``.avsc`` versions."""

    REQUEST = "GenerationRequest"
    RESULT = "GenerationResult"
    COMPLETED = "GenerationCompleted"
    FAILED = "GenerationFailed"
    STATUS = "RequestStatus"
    CANCEL = "GenerationCancel"
    PROGRESS = "GenerationProgress"
    TENANT_KEY = "TenantKey"
    USAGE = "GenerationUsage"
    MODEL_ALIAS = "ModelAlias"

    @property
    def fullname(self) -> str:
        """The Avro full name, e.g. ``io.diffstream.v1.GenerationRequest``."""
        return f"{NAMESPACE}.{self.value}"


class OutputFormat(StrEnum):
    """Image encodings a request may ask for."""

    PNG = "png"
    WEBP = "webp"
    JPEG = "jpeg"


class Lane(StrEnum):
    """Which request topic a request travels on."""

    INTERACTIVE = "interactive"
    BATCH = "batch"


class CallbackEvent(StrEnum):
    """Which events a callback URL is notified of."""

    COMPLETED = "completed"
    FAILED = "failed"
    STATUS = "status"


class ErrorCode(StrEnum):
    """Why a request failed (GenerationFailed.error_code)."""

    INVALID_REQUEST = "invalid_request"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    MODEL_NOT_FOUND = "model_not_found"
    INFERENCE_ERROR = "inference_error"
    OUT_OF_MEMORY = "out_of_memory"
    TIMEOUT = "timeout"
    STORAGE_ERROR = "storage_error"
    DUPLICATE_REQUEST_ID = "duplicate_request_id"
    INFERENCE_CRASH = "inference_crash"
    EXPIRED_IN_TRANSIT = "expired_in_transit"
    MODEL_CORRUPT = "model_corrupt"
    UNKNOWN = "unknown"


class UsageOutcome(StrEnum):
    """How a request ended, as metered (GenerationUsage.outcome)."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class RequestState(StrEnum):
    """A request's state in the compacted status topic."""

    QUEUED = "queued"
    PROCESSING = "processing"
    GENERATED = "generated"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"
