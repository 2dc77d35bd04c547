"""`diffstream bench gateway`: submits/s per gateway process, POST latency at a fixed rate,
and SSE fan-out, against one gateway process on the local stack.

The gateway runs as its own process (``python -m diffstream gateway``) on topics of the
bench's own, with no processor: it never runs inference, so a submit's cost is the HTTP
work, validation, encoding and Kafka's acknowledgement (``acks=all``) before the 202.
SSE delay is measured from the moment the bench hands a progress event to its Kafka
producer (so it includes the broker round trip) to the moment a watcher has read it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
from rich.table import Table

from diffstream.kafka import make_consumer
from diffstream.settings import Settings
from infra.bench.conditions import machine_conditions
from infra.bench.gateway_setup import (
    BODY,
    TARGET_P99_S,
    TARGET_SUBMITS_PER_S,
    GatewayBenchOptions,
    ProcessCpu,
    run_loadgen,
    start_gateway,
    wait_ready,
)
from infra.bench.gateway_sse import fan_out
from infra.bench.loadgen import (
    LoadResult,
    closed_loop,
    open_loop,
    post_bytes,
    wrk_path,
    wrk_saturate,
)
from infra.bench.stats import percentile
from infra.stack.ports import free_port
from infra.topic_provisioning import create_topics, delete_topics
from producers.gateway.keys import create_key
from schemas.topics import REQUESTS

log = logging.getLogger(__name__)
T = TypeVar("T")


def run_gateway_bench(settings: Settings, options: GatewayBenchOptions) -> dict[str, Any]:
    """Every gateway figure once; the report as a dict."""
    began = time.perf_counter()
    if options.bring_stack_up:
        from infra.stack.local import LocalStack  # noqa: PLC0415

        LocalStack(settings).up()
    own = settings.model_copy(update={"topic_prefix": f"bench-gw-{uuid.uuid4().hex[:8]}."})
    create_topics(own)
    key = create_key(own, "bench", rate_per_s=1e6, images_per_min=10**9, max_in_flight=10**9).key
    port = free_port()
    report: dict[str, Any] = {
        "conditions": {
            **machine_conditions(),
            "load_average_before": os.getloadavg(),
            **asdict(options),
        }
    }
    gateway = start_gateway(own, port)
    try:
        process = psutil.Process(gateway.pid)
        wait_ready(port, gateway)
        body = json.dumps(BODY).encode()
        raw = post_bytes(
            "127.0.0.1",
            port,
            "/v1/generations",
            body,
            {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        )
        warm_up = run_loadgen(closed_loop("127.0.0.1", port, raw, connections=8, duration_s=2.0))
        report["saturation"] = _saturation(
            options, port=port, raw=raw, body=body, key=key, process=process
        )
        report["fixed_rate"] = _fixed_rate(options, port, raw, process)
        # Every 202 was acknowledged by Kafka first, so the topic holds at least as many.
        report["kafka"] = {
            "accepted_by_the_gateway": warm_up.accepted()
            + report["saturation"]["accepted"]
            + report["fixed_rate"]["accepted"],
            "records_in_the_topic": _published(own),
        }
        report["sse"] = run_loadgen(fan_out(own, options, port, key, process))
    finally:
        gateway.terminate()
        try:
            gateway.wait(30)
        except subprocess.TimeoutExpired:
            gateway.kill()
        delete_topics(own)
    report["conditions"]["load_average_after"] = os.getloadavg()
    report["duration_s"] = time.perf_counter() - began
    return report


def _saturation(
    options: GatewayBenchOptions,
    *,
    port: int,
    raw: bytes,
    body: bytes,
    key: str,
    process: psutil.Process,
) -> dict[str, Any]:
    cpu = ProcessCpu(process)
    wrk = wrk_path() if options.use_wrk else None
    if wrk is not None:
        with tempfile.TemporaryDirectory() as folder:
            result = wrk_saturate(
                wrk,
                f"http://127.0.0.1:{port}/v1/generations",
                body,
                key,
                connections=options.connections,
                duration_s=options.saturate_s,
                folder=Path(folder),
            )
        p50, p99 = result.latencies_s
    else:
        result = run_loadgen(
            closed_loop(
                "127.0.0.1",
                port,
                raw,
                connections=options.connections,
                duration_s=options.saturate_s,
            )
        )
        p50, p99 = _percentiles(result)
    accepted_per_s = result.accepted() / result.duration_s
    cores = cpu.share()
    # What one submit costs the gateway process (all its threads, librdkafka's included):
    # the figure that does not depend on how much of the machine the process was given.
    cpu_ms = cores / accepted_per_s * 1000 if accepted_per_s else 0.0
    return {
        "tool": "wrk (closed loop, 1 thread)" if wrk else "python closed loop",
        "connections": options.connections,
        "duration_s": result.duration_s,
        "requests": result.offered,
        "accepted": result.accepted(),
        "errors": result.errors,
        "accepted_per_s": accepted_per_s,
        "target_per_s": TARGET_SUBMITS_PER_S,
        "ratio_to_target": accepted_per_s / TARGET_SUBMITS_PER_S,
        "latency_p50_ms": p50 * 1000,
        "latency_p99_ms": p99 * 1000,
        "gateway_cpu_cores": cores,
        "gateway_cpu_ms_per_submit": cpu_ms,
        "submits_per_s_per_busy_core": 1000 / cpu_ms if cpu_ms else 0.0,
    }


def _published(settings: Settings) -> int:
    """Records in the interactive topic: every 202 must be there (acknowledged first)."""
    consumer = make_consumer(settings, {"group.id": f"bench-{uuid.uuid4()}"})
    try:
        topic = settings.topic(REQUESTS)
        from confluent_kafka import TopicPartition  # noqa: PLC0415

        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in metadata.partitions
        )
    finally:
        consumer.close()


def _fixed_rate(
    options: GatewayBenchOptions, port: int, raw: bytes, process: psutil.Process
) -> dict[str, Any]:
    cpu = ProcessCpu(process)
    before = _server_buckets(port)
    result = run_loadgen(
        open_loop("127.0.0.1", port, raw, rate=options.fixed_rate, duration_s=options.fixed_s)
    )
    after = _server_buckets(port)
    p50, p99 = _percentiles(result)
    failed = result.errors + result.offered - result.accepted()
    return {
        "tool": "python open loop (asyncio streams)",
        "offered_per_s": options.fixed_rate,
        "achieved_per_s": result.accepted() / result.duration_s,
        "requests": result.offered,
        "accepted": result.accepted(),
        "errors": failed,
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "error_kinds": result.error_kinds,
        "connections": result.connections,
        "latency_p50_ms": p50 * 1000,
        "latency_p99_ms": p99 * 1000,
        "latency_max_ms": max(result.latencies_s, default=0.0) * 1000,
        # The gateway's own view (its histogram): from the request read to the response
        # started, so without the client's or the kernel's queueing. A bucket's upper bound.
        "server_p50_at_most_ms": _bucket_percentile(before, after, 0.5) * 1000,
        "server_p99_at_most_ms": _bucket_percentile(before, after, 0.99) * 1000,
        "target_p99_ms": TARGET_P99_S * 1000,
        "ratio_to_target": (TARGET_P99_S / p99) if p99 else 0.0,
        "gateway_cpu_cores": cpu.share(),
    }


_BUCKET_LINE = re.compile(
    r'^diffstream_gateway_request_seconds_bucket\{le="([^"]+)",route="/v1/generations"\} (\S+)$',
    re.MULTILINE,
)


def _server_buckets(port: int) -> dict[float, float]:
    """The gateway's cumulative latency buckets of POST /v1/generations."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {float(le): float(count) for le, count in _BUCKET_LINE.findall(text)}


def _bucket_percentile(
    before: dict[float, float], after: dict[float, float], fraction: float
) -> float:
    """The smallest bucket bound holding ``fraction`` of the requests between two reads."""
    counts = {le: after[le] - before.get(le, 0.0) for le in sorted(after)}
    total = counts.get(float("inf"), 0.0)
    for le, count in counts.items():
        if total and count >= fraction * total:
            return le
    return float("inf")


def _percentiles(result: LoadResult) -> tuple[float, float]:
    if not result.latencies_s:
        return 0.0, 0.0
    return percentile(result.latencies_s, 0.5), percentile(result.latencies_s, 0.99)


def gateway_table(report: dict[str, Any]) -> Table:
    """The gateway figures, their targets and what they were measured under."""
    c = report["conditions"]
    saturation, fixed, sse = report["saturation"], report["fixed_rate"], report["sse"]
    out = Table(
        "figure",
        "measured",
        "target",
        "ratio",
        "conditions",
        title=(
            f"diffstream bench gateway: {c['cpu']}, {c['cores']} cores, load average "
            f"{c['load_average_before'][0]:.1f} before, {c['load_average_after'][0]:.1f} after"
        ),
    )
    out.add_row(
        "accepted submits/s (one process)",
        f"{saturation['accepted_per_s']:,.0f}",
        f">= {TARGET_SUBMITS_PER_S:,.0f}",
        f"{saturation['ratio_to_target']:.2f}",
        f"{saturation['tool']}, {saturation['connections']} connections, "
        f"{saturation['errors']} errors, gateway {saturation['gateway_cpu_cores']:.2f} cores, "
        f"{saturation['gateway_cpu_ms_per_submit']:.2f} ms CPU per submit "
        f"({saturation['submits_per_s_per_busy_core']:,.0f}/s per busy core)",
    )
    out.add_row(
        f"POST p50 / p99 at {fixed['offered_per_s']:,.0f} req/s",
        f"{fixed['latency_p50_ms']:.1f} / {fixed['latency_p99_ms']:.1f} ms",
        f"p99 <= {fixed['target_p99_ms']:.0f} ms",
        f"{fixed['ratio_to_target']:.2f}",
        f"{fixed['tool']}, {fixed['errors']} errors, gateway {fixed['gateway_cpu_cores']:.2f} "
        f"cores, server-side p99 <= {fixed['server_p99_at_most_ms']:g} ms",
    )
    out.add_row(
        f"SSE delay p50 / p99, {sse['watchers']:,} watchers",
        f"{sse['delay_p50_ms']:.1f} / {sse['delay_p99_ms']:.1f} ms",
        f"p99 <= {sse['target_p99_ms']:.0f} ms",
        f"{sse['ratio_to_target']:.2f}",
        f"{sse['deliveries_seen']:,}/{sse['deliveries_expected']:,} events seen, "
        f"{sse['events_per_s_into_kafka']:.0f} events/s into Kafka, "
        f"gateway {sse['gateway_cpu_cores']:.2f} cores",
    )
    return out
