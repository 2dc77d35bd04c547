"""Topic names and their configuration: the one place they are defined."""

from __future__ import annotations

from typing import NamedTuple

# The largest result event: a 2048x2048 PNG with alpha is at most ~16 MiB uncompressed;
# leave room for the Avro envelope and several images per request.
RESULTS_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
WEEK_MS = 7 * 24 * 3600 * 1000
# A table topic: the latest record per key is kept, and older ones are cleaned up early.
COMPACTED = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"}


class TopicSpec(NamedTuple):
    """A topic as diffstream provisions it."""

    name: str
    partitions: int
    config: dict[str, str]
    purpose: str


REQUESTS = "diffusion.requests"
REQUESTS_BATCH = "diffusion.requests.batch"
RESULTS = "diffusion.results"
COMPLETED = "diffusion.completed"
FAILED = "diffusion.failed"
STATUS = "diffusion.status"
DLQ = "diffusion.dlq"
CANCELLATIONS = "diffusion.cancellations"
WEBHOOKS_DLQ = "diffusion.webhooks.dlq"
PROGRESS = "diffusion.progress"
TENANT_KEYS = "diffusion.tenant-keys"
USAGE = "diffusion.usage"
MODEL_ALIASES = "diffusion.model-aliases"

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        REQUESTS,
        12,
        {"retention.ms": str(WEEK_MS)},
        "interactive lane; partitions bound the number of parallel GPU workers",
    ),
    TopicSpec(
        REQUESTS_BATCH,
        12,
        {"retention.ms": str(4 * WEEK_MS)},
        "backfill lane; consumed when the interactive lane is idle",
    ),
    TopicSpec(
        RESULTS,
        12,
        {
            "retention.ms": str(2 * 24 * 3600 * 1000),
            "max.message.bytes": str(RESULTS_MAX_MESSAGE_BYTES),
        },
        "internal: image bytes on their way to the image sink",
    ),
    TopicSpec(
        COMPLETED, 12, {"retention.ms": str(4 * WEEK_MS)}, "public: one event per stored request"
    ),
    TopicSpec(
        FAILED, 12, {"retention.ms": str(4 * WEEK_MS)}, "public: one event per failed request"
    ),
    TopicSpec(
        STATUS,
        12,
        {**COMPACTED, "segment.ms": str(3600 * 1000)},
        "compacted: the latest state per request",
    ),
    TopicSpec(
        DLQ, 3, {"retention.ms": str(4 * WEEK_MS)}, "dead letters: undecodable events, as bytes"
    ),
    TopicSpec(
        CANCELLATIONS,
        3,
        dict(COMPACTED),
        "compacted: GenerationCancel per request_id, read by processors as a table",
    ),
    TopicSpec(
        PROGRESS,
        12,
        {"retention.ms": str(24 * 3600 * 1000)},
        "public, opt-in: denoising steps per request, rate-limited (PROGRESS_INTERVAL_MS)",
    ),
    TopicSpec(
        WEBHOOKS_DLQ,
        3,
        {"retention.ms": str(4 * WEEK_MS)},
        "webhook deliveries given up: the original event bytes, with dead-letter headers",
    ),
    TopicSpec(
        TENANT_KEYS,
        3,
        dict(COMPACTED),
        "compacted: TenantKey per key hash (API keys, limits, webhook secrets)",
    ),
    TopicSpec(
        USAGE,
        12,
        {"retention.ms": str(13 * WEEK_MS)},
        "metering: one GenerationUsage per terminal outcome, in the outcome's transaction",
    ),
    TopicSpec(
        MODEL_ALIASES,
        1,
        dict(COMPACTED),
        "compacted: ModelAlias per name/alias (e.g. digits/prod), read by processors as a table",
    ),
)


def retention_ms(name: str) -> int:
    """The ``retention.ms`` diffstream provisions ``name`` with (the broker's default of a
    week when the topic sets none)."""
    spec = next(spec for spec in TOPICS if spec.name == name)
    return int(spec.config.get("retention.ms", WEEK_MS))
