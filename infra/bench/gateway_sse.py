"""The SSE fan-out figure: how soon a thousand watchers see a progress event."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import psutil

from diffstream.kafka import make_producer
from diffstream.settings import Settings
from infra.bench.exceptions import BenchError
from infra.bench.gateway_setup import BODY, TARGET_SSE_P99_S, GatewayBenchOptions, ProcessCpu
from infra.bench.stats import percentile
from schemas.builders import now_millis
from schemas.codec import Codec
from schemas.events import EventName
from schemas.examples import example
from schemas.topics import PROGRESS, STATUS

# How long the terminal events wait for the progress deliveries still on their way.
PROGRESS_SETTLE_S = 10.0


async def fan_out(
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
    cpu = ProcessCpu(process)
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

    async def _delivered(self, expected: int, timeout_s: float) -> None:
        """Until ``expected`` progress deliveries were seen, or ``timeout_s`` passed."""
        deadline = time.perf_counter() + timeout_s
        while len(self.delays) < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)

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
        # The view drops a progress event read after its request's terminal one, and Kafka
        # orders no two topics: a step still on its way when `completed` lands is lost.
        await self._delivered(steps * self.options.watchers, PROGRESS_SETTLE_S)
        for request_id in ids:
            status = {**example(EventName.STATUS), "request_id": request_id, "state": "completed"}
            status |= {"tenant": "bench", "error_code": None, "message": None}
            status |= {"image_uris": [f"s3://{self.settings.s3_bucket}/bench/{request_id}.png"]}
            value = codec.encode(EventName.STATUS, status)
            producer.produce(self.settings.topic(STATUS), value, request_id.encode())
        producer.flush(10)
