"""What every gateway bench phase shares: its options, the gateway process and its CPU."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import psutil

from diffstream.settings import Settings
from infra.bench.exceptions import BenchError

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


def run_loadgen(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run the load generator on uvloop when it is installed (it comes with
    uvicorn[standard]): a cheaper client leaves more of the machine to what is measured."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def start_gateway(settings: Settings, port: int) -> subprocess.Popen[bytes]:
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


def wait_ready(port: int, gateway: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
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


class ProcessCpu:
    """The gateway process's CPU use over a phase, as a share of one core."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        times = process.cpu_times()
        self.start = (time.perf_counter(), times.user + times.system)

    def share(self) -> float:
        times = self.process.cpu_times()
        wall = time.perf_counter() - self.start[0]
        return (times.user + times.system - self.start[1]) / wall if wall else 0.0
