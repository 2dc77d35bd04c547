"""`diffstream bench gateway`: submits/s per gateway process, POST latency at a fixed rate,
and SSE fan-out, against one gateway process on the local stack.

The gateway runs as its own process (``python -m diffstream gateway``) on topics of the
bench's own, with no processor: it never runs inference, so a submit's cost is the HTTP
work, validation, encoding and Kafka's acknowledgement (``acks=all``) before the 202.
SSE delay is measured from the moment the bench hands a progress event to its Kafka
producer (so it includes the broker round trip) to the moment a watcher has read it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Coroutine
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
from rich.table import Table

from diffstream.kafka import make_consumer, make_producer
from diffstream.settings import Settings
from infra.bench.conditions import machine_conditions
from infra.bench.exceptions import BenchError
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
from infra.topic_provisioning import create_topics
from producers.gateway.keys import create_key
from schemas.builders import now_millis
from schemas.codec import Codec
from schemas.events import EventName
from schemas.examples import example
from schemas.topics import PROGRESS, REQUESTS, STATUS

log = logging.getLogger(__name__)
T = TypeVar("T")

TARGET_SUBMITS_PER_S = 1500.0
TARGET_P99_S = 0.025
TARGET_SSE_P99_S = 0.100
BODY = {"prompt": "a handwritten 7", "model": "digits", "steps": 20, "width": 64, "height": 64}


@dataclass(frozen=True, slots=True)
class GatewayBenchOptions:
    """How long and how hard; the defaults take about a minute."""

    saturate_s: int = 10
    connections: int = 32
    fixed_rate: float = 500.0
    fixed_s: float = 10.0
    watchers: int = 1000
    watched_requests: int = 100
    progress_steps: int = 10
    step_interval_s: float = 0.5
    use_wrk: bool = True
    bring_stack_up: bool = True


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
    gateway = _start_gateway(own, port)
    try:
        process = psutil.Process(gateway.pid)
        _wait_ready(port, gateway)
        body = json.dumps(BODY).encode()
        raw = post_bytes(
            "127.0.0.1",
            port,
            "/v1/generations",
            body,
            {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        )
        warm_up = _run(closed_loop("127.0.0.1", port, raw, connections=8, duration_s=2.0))
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
        report["sse"] = _run(_fan_out(own, options, port, key, process))
    finally:
        gateway.terminate()
        try:
            gateway.wait(30)
        except subprocess.TimeoutExpired:
            gateway.kill()
    report["conditions"]["load_average_after"] = os.getloadavg()
    report["duration_s"] = time.perf_counter() - began
    return report


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run the load generator on uvloop when it is installed (it comes with
    uvicorn[standard]): a cheaper client leaves more of the machine to what is measured."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _start_gateway(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env |= {
        "DIFFSTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DIFFSTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "DIFFSTREAM_S3_ENDPOINT": settings.s3_endpoint,
        "DIFFSTREAM_S3_BUCKET": settings.s3_bucket,
        "DIFFSTREAM_S3_ACCESS_KEY": settings.s3_access_key.get_secret_value(),
        "DIFFSTREAM_S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
        # No processor runs: the lane's lag grows, and shedding would refuse the load.
        "DIFFSTREAM_GATEWAY__SHED_INTERACTIVE_LAG": "0",
    }
    command = [sys.executable, "-m", "diffstream_cli", "--log-level", "WARNING", "gateway"]
    return subprocess.Popen([*command, "--port", str(port)], env=env, stdout=subprocess.DEVNULL)


def _wait_ready(port: int, gateway: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if gateway.poll() is not None:
            raise BenchError(f"the gateway exited with {gateway.returncode} while starting")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise BenchError(f"the gateway on port {port} was not ready within {timeout_s:g}s")


class _Cpu:
    """The gateway process's CPU use over a phase, as a share of one core."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        times = process.cpu_times()
        self.start = (time.perf_counter(), times.user + times.system)

    def share(self) -> float:
        times = self.process.cpu_times()
        wall = time.perf_counter() - self.start[0]
        return (times.user + times.system - self.start[1]) / wall if wall else 0.0


def _saturation(
    options: GatewayBenchOptions,
    *,
    port: int,
    raw: bytes,
    body: bytes,
    key: str,
    process: psutil.Process,
) -> dict[str, Any]:
    cpu = _Cpu(process)
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
        result = _run(
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
    cpu = _Cpu(process)
    before = _server_buckets(port)
    result = _run(
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


async def _fan_out(
    settings: Settings,
    options: GatewayBenchOptions,
    port: int,
    key: str,
    process: psutil.Process,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        ids = []
        for _ in range(options.watched_requests):
            answer = await client.post("/v1/generations", json=BODY, headers=headers)
            if answer.status_code != 202:
                raise BenchError(f"a submit for the SSE figure answered {answer.status_code}")
            ids.append(answer.json()["id"])
    fan = _FanOut(settings, options, port, key)
    watchers = [asyncio.create_task(fan.watch(ids[i % len(ids)])) for i in range(options.watchers)]
    try:
        await asyncio.wait_for(fan.connected.wait(), 120)
    except TimeoutError:
        raise BenchError(f"only {fan.ready} of {options.watchers} SSE watchers connected") from None
    cpu = _Cpu(process)
    await fan.publish(ids)
    _, pending = await asyncio.wait(watchers, timeout=60)
    for task in pending:
        task.cancel()
    delays = fan.delays
    p50 = percentile(delays, 0.5) if delays else 0.0
    p99 = percentile(delays, 0.99) if delays else 0.0
    return {
        "watchers": options.watchers,
        "requests_watched": len(ids),
        "events_per_s_into_kafka": len(ids) / options.step_interval_s,
        "deliveries_expected": options.watchers * options.progress_steps,
        "deliveries_seen": len(delays),
        "terminal_events_seen": fan.terminal,
        "streams_not_closed": len(pending),
        "errors": fan.errors,
        "delay_p50_ms": p50 * 1000,
        "delay_p99_ms": p99 * 1000,
        "delay_max_ms": max(delays, default=0.0) * 1000,
        "target_p99_ms": TARGET_SSE_P99_S * 1000,
        "ratio_to_target": (TARGET_SSE_P99_S / p99) if p99 else 0.0,
        "gateway_cpu_cores": cpu.share(),
    }


class _FanOut:
    """SSE watchers on raw connections, and the progress events they wait for."""

    def __init__(self, settings: Settings, options: GatewayBenchOptions, port: int, key: str):
        self.settings = settings
        self.options = options
        self.port = port
        self.key = key
        self.sent: dict[tuple[str, int], float] = {}
        self.delays: list[float] = []
        self.terminal = 0
        self.errors = 0
        self.ready = 0
        self.connected = asyncio.Event()

    async def watch(self, request_id: str) -> None:
        """Follow one stream to its terminal event, timing every progress event."""
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            self.errors += 1
            return
        writer.write(
            (
                f"GET /v1/generations/{request_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {self.key}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()
        )
        try:
            await reader.readuntil(b"\r\n\r\n")
            event = ""
            while not reader.at_eof():
                line = (await reader.readline()).decode().strip()
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event and self._take(event, line, request_id):
                    return
        except (OSError, asyncio.IncompleteReadError):
            self.errors += 1
        finally:
            writer.close()

    def _take(self, event: str, line: str, request_id: str) -> bool:
        """Record one event; whether it ended the stream."""
        now = time.perf_counter()
        if event == "status":
            self.ready += 1
            if self.ready >= self.options.watchers:
                self.connected.set()
        elif event == "progress":
            at = self.sent.get((request_id, json.loads(line[5:])["step"]))
            if at is not None:
                self.delays.append(now - at)
        elif event in ("completed", "failed"):
            self.terminal += 1
            return True
        return False

    async def publish(self, ids: list[str]) -> None:
        """Progress steps for every request, then completed: each round of steps spread
        evenly over ``step_interval_s``, as steps from many processors would arrive."""
        codec = Codec(self.settings)
        producer = make_producer(self.settings, {"linger.ms": 0, "acks": "all"})
        steps = self.options.progress_steps
        gap = self.options.step_interval_s / len(ids)
        began = time.perf_counter()
        for step in range(1, steps + 1):
            for n, request_id in enumerate(ids):
                due = began + ((step - 1) * len(ids) + n) * gap
                await asyncio.sleep(max(due - time.perf_counter(), 0))
                record = {**example(EventName.PROGRESS), "request_id": request_id, "step": step}
                record |= {"steps": steps, "updated_at": now_millis()}
                self.sent[(request_id, step)] = time.perf_counter()
                value = codec.encode(EventName.PROGRESS, record)
                producer.produce(self.settings.topic(PROGRESS), value, request_id.encode())
                producer.poll(0)
        producer.flush(10)
        for request_id in ids:
            status = {**example(EventName.STATUS), "request_id": request_id, "state": "completed"}
            status |= {"tenant": "bench", "error_code": None, "message": None}
            status |= {"image_uris": [f"s3://{self.settings.s3_bucket}/bench/{request_id}.png"]}
            value = codec.encode(EventName.STATUS, status)
            producer.produce(self.settings.topic(STATUS), value, request_id.encode())
        producer.flush(10)


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
