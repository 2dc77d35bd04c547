"""The shape of every event record, typed: one ``TypedDict`` per Avro record, same names.

The ``.avsc`` files are the source of truth; ``tests/unit/test_records.py`` checks every
field of these types (name, order, type, nullability) against the newest schemas, so the
builders in ``schemas.builders``, which construct these types, cannot drift from them.
A field is ``X | None`` exactly where its Avro type is a union with ``null``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TypedDict

# fastavro writes a ``uuid`` logical type from either form; decoders read back ``str``.
RequestId = uuid.UUID | str


class SourceCoordinates(TypedDict):
    """Where the request event was read: topic[partition]@offset."""

    topic: str
    partition: int
    offset: int


class Callback(TypedDict):
    """Where to POST notifications and for which events (``CallbackEvent`` values)."""

    url: str
    events: list[str]


class Lineage(TypedDict):
    """Set on replays: the event a request was replayed from."""

    original_request_id: RequestId
    topic: str
    partition: int
    offset: int


class GenerationRequest(TypedDict):
    """One image generation request (``diffusion.requests`` and its batch lane)."""

    request_id: RequestId
    submitted_at: datetime
    model: str
    revision: str | None
    prompt: str
    negative_prompt: str | None
    width: int
    height: int
    steps: int
    guidance_scale: float
    seed: int | None
    num_images: int
    scheduler: str | None
    output_format: str
    lane: str
    priority: int
    deadline: datetime | None
    callback: Callback | None
    tenant: str | None
    labels: dict[str, str]
    traceparent: str | None
    tracestate: str | None
    batch_id: str | None
    lineage: Lineage | None


class RequestContext(TypedDict):
    """A request's routing fields, carried forward so that subscribers need no join."""

    submitted_at: datetime
    lane: str
    priority: int
    tenant: str | None
    labels: dict[str, str]
    batch_id: str | None
    callback: Callback | None
    traceparent: str | None
    tracestate: str | None


class Timings(TypedDict):
    """Seconds spent in each stage; None where the stage has not happened yet."""

    queued_s: float
    inference_s: float
    storage_s: float | None
    end_to_end_s: float | None


class GeneratedImage(TypedDict):
    """One image of a result, bytes included."""

    index: int
    data: bytes
    content_type: str
    width: int
    height: int
    seed: int


class GenerationResult(TypedDict):
    """A request's images, generated, not stored yet (``diffusion.results``, internal)."""

    request_id: RequestId
    attempt: int
    produced_at: datetime
    model: str
    revision: str | None
    images: list[GeneratedImage]
    timings: Timings
    # v2: the request's share of its pipeline calls' time (None from v1 writers).
    accelerator_s: float | None
    source: SourceCoordinates
    request: GenerationRequest


class StoredImage(TypedDict):
    """One image as the object store holds it."""

    index: int
    uri: str
    sha256: str
    size_bytes: int
    content_type: str
    width: int
    height: int
    seed: int
    # v2: a URL a browser opens without S3 credentials, and when it expires (None: never,
    # a gateway URL presigns on each visit).
    url: str | None
    url_expires_at: datetime | None


class GenerationCompleted(TypedDict):
    """A request's images are stored (``diffusion.completed``, public)."""

    request_id: RequestId
    completed_at: datetime
    attempt: int
    model: str
    revision: str | None
    images: list[StoredImage]
    timings: Timings
    source: SourceCoordinates
    context: RequestContext


class FieldProblem(TypedDict):
    """One invalid field of a request."""

    field: str
    message: str


class GenerationFailed(TypedDict):
    """A request ended without images (``diffusion.failed``, public)."""

    request_id: RequestId
    failed_at: datetime
    error_code: str
    message: str
    retryable: bool
    attempt: int
    field_errors: list[FieldProblem]
    model: str | None
    source: SourceCoordinates | None
    context: RequestContext | None


class RequestStatus(TypedDict):
    """The latest state of a request (``diffusion.status``, compacted)."""

    request_id: RequestId
    state: str
    updated_at: datetime
    attempt: int
    model: str | None
    tenant: str | None
    batch_id: str | None
    error_code: str | None
    message: str | None
    image_uris: list[str]
    source: SourceCoordinates | None
    fingerprint: str | None
    callback: Callback | None


class GenerationCancel(TypedDict):
    """Asks that a request not run, or that its result be dropped."""

    request_id: RequestId
    requested_at: datetime
    reason: str | None
    tenant: str | None
    traceparent: str | None


class GenerationProgress(TypedDict):
    """A denoising step finished for a request (informational)."""

    request_id: RequestId
    step: int
    steps: int
    attempt: int
    updated_at: datetime
    model: str | None


class TenantKey(TypedDict):
    """One API key of a tenant (``diffusion.tenant-keys``, compacted; key: its hash)."""

    key_hash: str
    key_prefix: str
    tenant: str
    created_at: datetime
    updated_at: datetime
    revoked: bool
    rate_per_s: float
    images_per_min: int
    max_in_flight: int
    webhook_secret: str


class ModelAlias(TypedDict):
    """An alias of a stored model (``diffusion.model-aliases``, compacted; key: name/alias)."""

    name: str
    alias: str
    revision: str
    updated_at: datetime
    updated_by: str | None


class GenerationUsage(TypedDict):
    """What one terminal outcome used (``diffusion.usage``), for metering."""

    request_id: RequestId
    recorded_at: datetime
    outcome: str
    error_code: str | None
    tenant: str | None
    model: str | None
    revision: str | None
    lane: str
    batch_id: str | None
    images: int
    pixel_steps: int
    accelerator_s: float
    queue_s: float
