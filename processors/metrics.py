"""Prometheus metrics of the stream processor, built against a registry passed in."""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from diffstream.collectors import Collector, register_all

# Image generation takes from tens of milliseconds (tiny models) to minutes (large ones).
SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)

_TABLE = {
    "batch_size": Collector(
        Histogram,
        "diffstream_processor_batch_size",
        "Images per pipeline call.",
        buckets=BATCH_BUCKETS,
    ),
    "queue_wait_seconds": Collector(
        Histogram,
        "diffstream_processor_queue_wait_seconds",
        "From a request's submitted_at to the start of its inference.",
        ["lane"],
        buckets=SECONDS_BUCKETS,
    ),
    "inference_seconds": Collector(
        Histogram,
        "diffstream_processor_inference_seconds",
        "Wall time of one pipeline call.",
        ["model"],
        buckets=SECONDS_BUCKETS,
    ),
    "images": Collector(
        Counter,
        "diffstream_processor_images",
        "Images generated (rate() gives images per second).",
        ["model"],
    ),
    "requests": Collector(
        Counter,
        "diffstream_processor_requests",
        "Requests finished, by outcome (generated, failed, dead_letter).",
        ["outcome"],
    ),
    "errors": Collector(
        Counter,
        "diffstream_processor_errors",
        "Failed requests by GenerationFailed error code.",
        ["code"],
    ),
    "model_load_seconds": Collector(
        Histogram,
        "diffstream_processor_model_load_seconds",
        "Time to load (and warm up) a model.",
        buckets=SECONDS_BUCKETS,
    ),
    "lag": Collector(
        Gauge,
        "diffstream_processor_consumer_lag",
        "Requests waiting in this worker's assigned partitions, per lane.",
        ["lane"],
    ),
}


class ProcessorMetrics(NamedTuple):
    """Every collector of `diffstream process`."""

    batch_size: Histogram
    queue_wait_seconds: Histogram
    inference_seconds: Histogram
    images: Counter
    requests: Counter
    errors: Counter
    model_load_seconds: Histogram
    lag: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> ProcessorMetrics:
        """Register the collectors in ``registry``."""
        return cls(**register_all(registry, _TABLE))
