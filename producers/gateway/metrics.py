"""The gateway's Prometheus collectors, built against a registry passed in."""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from diffstream.collectors import Collector, register_all

_TABLE = {
    "responses": Collector(
        Counter,
        "diffstream_gateway_responses",
        "HTTP responses by route and status",
        ["route", "status"],
    ),
    "seconds": Collector(
        Histogram,
        "diffstream_gateway_request_seconds",
        "Time to answer, by route (SSE streams: to the first byte; Prefer: wait not timed)",
        ["route"],
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    ),
    "submits": Collector(
        Counter, "diffstream_gateway_submits", "Requests published, by lane", ["lane"]
    ),
    "watchers": Collector(Gauge, "diffstream_gateway_sse_watchers", "SSE streams open"),
    "interactive_lag": Collector(
        Gauge,
        "diffstream_gateway_interactive_lag",
        "Interactive requests the processors have not committed",
    ),
}


class GatewayMetrics(NamedTuple):
    """What `/metrics` shows."""

    responses: Counter
    seconds: Histogram
    submits: Counter
    watchers: Gauge
    interactive_lag: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> GatewayMetrics:
        """Collectors registered on ``registry``."""
        return cls(**register_all(registry, _TABLE))
