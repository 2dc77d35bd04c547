"""Prometheus metrics of the image sink and the webhook notifier, built against a registry."""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from diffstream.collectors import Collector, register_all

# A PUT of one image takes milliseconds on a local MinIO and seconds over a slow link;
# a webhook may take up to its timeout.
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

_IMAGE_SINK = {
    "objects_written": Collector(
        Counter,
        "diffstream_sink_objects_written",
        "Images PUT to the object store (a retried PUT counts again).",
    ),
    "bytes_written": Collector(
        Counter, "diffstream_sink_bytes_written", "Bytes of images PUT to the object store."
    ),
    "put_seconds": Collector(
        Histogram,
        "diffstream_sink_put_seconds",
        "Wall time of one successful PUT.",
        buckets=SECONDS_BUCKETS,
    ),
    "retries": Collector(
        Counter,
        "diffstream_sink_retries",
        "Batches retried because the object store was unavailable.",
    ),
    "requests": Collector(
        Counter,
        "diffstream_sink_requests",
        "Results finished, by outcome (completed, dead_letter).",
        ["outcome"],
    ),
    "oldest_unstored_seconds": Collector(
        Gauge,
        "diffstream_sink_oldest_unstored_seconds",
        "Age of the oldest result of the batch being stored; alert well before the "
        "results topic's retention.ms, past which results are deleted unstored.",
    ),
}

_NOTIFIER = {
    "attempts": Collector(
        Counter,
        "diffstream_webhook_attempts",
        "Webhook attempts by outcome (delivered, http_error, transport_error, gone, "
        "refused, disabled; backlog and unresolvable: turned away without a request).",
        ["outcome"],
    ),
    "retries": Collector(
        Counter,
        "diffstream_webhook_retries",
        "Webhook attempts scheduled again after a failure.",
    ),
    "dead_letters": Collector(
        Counter,
        "diffstream_webhook_dead_letters",
        "Deliveries given up and written to the webhook dead-letter topic, by reason.",
        ["reason"],
    ),
    "delivery_seconds": Collector(
        Histogram,
        "diffstream_webhook_attempt_seconds",
        "Wall time of one webhook attempt.",
        buckets=SECONDS_BUCKETS,
    ),
    "in_flight": Collector(
        Gauge,
        "diffstream_webhook_in_flight",
        "Deliveries under way (including those waiting for a retry).",
    ),
}


class ImageSinkMetrics(NamedTuple):
    """Every collector of `diffstream sink images`."""

    objects_written: Counter
    bytes_written: Counter
    put_seconds: Histogram
    retries: Counter
    requests: Counter
    oldest_unstored_seconds: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> ImageSinkMetrics:
        """Register the collectors in ``registry``."""
        return cls(**register_all(registry, _IMAGE_SINK))


class NotifierMetrics(NamedTuple):
    """Every collector of `diffstream sink notify`."""

    attempts: Counter
    retries: Counter
    dead_letters: Counter
    delivery_seconds: Histogram
    in_flight: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> NotifierMetrics:
        """Register the collectors in ``registry``."""
        return cls(**register_all(registry, _NOTIFIER))
