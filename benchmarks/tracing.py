"""What a span costs per hop: tracing off (diffstream's ``None`` tracer, then the API's no-op
tracer for comparison) and on (the SDK with a BatchSpanProcessor whose exporter drops spans).
A benchmark to run by hand, not a timed test.

    python -m benchmarks.tracing [--spans 200000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Tracer

from diffstream import tracing

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class _Dropped(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _hop(tracer: Tracer | None) -> None:
    # What a role does per request: a span continued from the event's traceparent.
    tracing.finish(tracing.start(tracer, "storage", traceparent=TRACEPARENT))


def _rate(label: str, body: Callable[[], None], spans: int) -> None:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(spans):
            body()
        best = min(best, time.perf_counter() - started)
    print(f"{label:<58} {best / spans * 1e9:9.0f} ns/span")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=200_000)
    spans = parser.parse_args().spans
    assert tracing.tracer("bench") is None, "unset OTEL_EXPORTER_OTLP_ENDPOINT first"
    _rate("off: diffstream.tracing with no endpoint (tracer None)", lambda: _hop(None), spans)
    noop = trace.NoOpTracer()
    _rate("off, for comparison: the API's no-op tracer", lambda: _hop(noop), spans)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(_Dropped(), max_queue_size=spans))
    sdk = provider.get_tracer("bench")
    _rate("on: SDK + BatchSpanProcessor (export dropped)", lambda: _hop(sdk), spans // 10)
    provider.shutdown()


if __name__ == "__main__":
    main()
