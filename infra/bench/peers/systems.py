"""The systems under test: how each starts, where its model runs, how it is killed and
comes back.

Each kill hits the process that holds the model (a peer writes its pid when it loads the
engine; diffstream's is its processor, while its gateway keeps taking requests into Kafka
and its image sink storing what was finished). A system whose main process died is started
again at once (as a supervisor would); one whose main process lives (Ray Serve's controller,
BentoML's arbiter) gets ``self_heal_s`` to bring a new model process up itself, after
which the bench restarts the whole server.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import psutil

from diffstream.settings import Settings
from infra.bench.exceptions import BenchError
from infra.bench.peers.clients import BentoClient, DiffstreamClient, ImageClient, PngClient
from infra.bench.peers.options import PeersOptions
from infra.bench.peers.processes import ServerProcess
from infra.bench.scrape import metric_sum
from infra.stack.ports import free_port
from processors.engine.sim_model import SIM_MODEL

PEERS_INSTALL = "pip install -e '.[peers]'"
# The framework each peer needs, importable only with the peers extra.
FRAMEWORK = {"fastapi": "fastapi", "ray_serve": "ray", "bentoml": "bentoml", "litserve": "litserve"}
PID_FILE_VARIABLE = "DIFFSTREAM_PEER_PID_FILE"  # benchmarks.peers.common reads it
MODEL_SECONDS = "diffstream_processor_inference_seconds_sum"


class System(Protocol):
    """One system under test."""

    @property
    def name(self) -> str: ...
    @property
    def client(self) -> ImageClient: ...

    def start(self) -> None: ...
    def running(self) -> bool: ...
    def model_pid(self) -> int | None: ...
    def model_seconds(self) -> float | None: ...
    def recover(self, killed: int, self_heal_s: float) -> str: ...
    def stop(self) -> None: ...
    def log_tail(self) -> str: ...


def source_root() -> Path:
    """The checkout holding ``benchmarks/peers`` (the peers run from source)."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "benchmarks" / "peers").is_dir():
        raise BenchError(
            f"benchmarks/peers is not next to the installed package ({root}): run the "
            "peers bench from a source checkout installed with pip install -e ."
        )
    return root


def missing_framework(name: str) -> str | None:
    """Why peer ``name`` cannot run here, or None when its framework is importable."""
    package = FRAMEWORK[name]
    if importlib.util.find_spec(package) is None:
        return f"{package} is not installed: it comes with the peers extra, {PEERS_INSTALL}"
    return None


def engine_env(options: PeersOptions) -> dict[str, str]:
    """The engine settings every system's model process reads (the same for all)."""
    env = {
        "DIFFSTREAM_ENGINE__PRELOAD": f'["{options.model}"]',
        "DIFFSTREAM_ENGINE__DEVICE": options.device,
        "DIFFSTREAM_ENGINE__MAX_LOADED_MODELS": "1",
    }
    if options.cpu_threads is not None:
        env["DIFFSTREAM_ENGINE__CPU_THREADS"] = str(options.cpu_threads)
    if options.model_cores is not None:
        env["DIFFSTREAM_ENGINE__CPU_CORES"] = json.dumps(options.model_cores)
    return env


@dataclass
class PeerSystem:
    """A peer server: one process tree, the model's pid in a file."""

    name: str
    client: ImageClient
    server: ServerProcess
    pid_file: Path

    def start(self) -> None:
        self.pid_file.unlink(missing_ok=True)
        self.server.start()

    def running(self) -> bool:
        return self.server.alive()

    def model_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None

    def model_seconds(self) -> None:
        """A peer does not say how long its model has run."""
        return None

    def recover(self, killed: int, self_heal_s: float) -> str:
        deadline = time.monotonic() + self_heal_s
        while self.server.alive() and time.monotonic() < deadline:
            pid = self.model_pid()
            if pid is not None and pid != killed and psutil.pid_exists(pid):
                return "restarted itself"
            time.sleep(0.2)
        came_back = "exited" if not self.server.alive() else f"no new model in {self_heal_s:.0f}s"
        self.server.stop()
        self.start()
        return f"restarted by the bench ({came_back})"

    def stop(self) -> None:
        self.server.stop()

    def log_tail(self) -> str:
        return self.server.log_tail()


def peer_system(name: str, options: PeersOptions, folder: Path) -> PeerSystem:
    """Peer ``name`` on a free port, its log and pid file in ``folder``."""
    root = source_root()
    port = free_port()
    python = sys.executable
    commands = {
        "fastapi": [python, "-m", "benchmarks.peers.plain_fastapi", "--port", str(port)],
        "ray_serve": [python, "-m", "benchmarks.peers.ray_serve", "--port", str(port)],
        "litserve": [python, "-m", "benchmarks.peers.litserve_server", "--port", str(port)],
        "bentoml": [
            *(python, "-m", "bentoml", "serve", "benchmarks.peers.bentoml_service:Diffusion"),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
    }
    pid_file = folder / f"{name}.pid"
    env = {
        **engine_env(options),
        PID_FILE_VARIABLE: str(pid_file),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
        "RAY_USAGE_STATS_ENABLED": "0",
        "BENTOML_HOME": str(folder / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
    }
    server = ServerProcess(commands[name], env, folder / f"{name}.log", root)
    url = f"http://127.0.0.1:{port}/generate"
    client: ImageClient = BentoClient(url) if name == "bentoml" else PngClient(url)
    return PeerSystem(name, client, server, pid_file)


@dataclass
class DiffstreamSystem:
    """The gateway, the processor and the image sink as three processes (as the chart and
    compose deploy them) on topics of the bench's own; the kill hits the processor."""

    gateway: ServerProcess
    processor: ServerProcess
    sink: ServerProcess
    client: DiffstreamClient
    settings: Settings  # the bench's own topics, deleted when it stops
    metrics_port: int  # the processor's /metrics
    name: str = "diffstream"
    restarts: list[float] = field(default_factory=list)

    def start(self) -> None:
        for process in (self.gateway, self.sink, self.processor):
            process.start()

    def running(self) -> bool:
        return self.gateway.alive() and self.sink.alive() and self.processor.alive()

    def model_pid(self) -> int | None:
        return self.processor.pid if self.processor.alive() else None

    def model_seconds(self) -> float:
        """Seconds the processor has spent in model calls (its inference histogram's sum)."""
        return metric_sum(self.metrics_port, MODEL_SECONDS)

    def recover(self, killed: int, self_heal_s: float) -> str:
        self.processor.stop()
        self.processor.start()
        return "processor restarted by the bench"

    def stop(self) -> None:
        from infra.topic_provisioning import delete_topics  # noqa: PLC0415

        for process in (self.processor, self.sink, self.gateway):
            process.stop()
        delete_topics(self.settings)

    def log_tail(self) -> str:
        return "\n".join(
            f"{process.log.stem}:\n{process.log_tail()}"
            for process in (self.gateway, self.processor, self.sink)
        )


def diffstream_system(
    settings: Settings, api_key: str, options: PeersOptions, folder: Path
) -> DiffstreamSystem:
    """The gateway, processor and image sink of ``settings`` (a topic prefix of the bench's
    own), each a process of its own."""
    root = source_root()
    port, metrics_port = free_port(), free_port()
    prefix = settings.topic_prefix
    shared = {
        "DIFFSTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DIFFSTREAM_TOPIC_PREFIX": prefix,
        "DIFFSTREAM_S3_ENDPOINT": settings.s3_endpoint,
        "DIFFSTREAM_S3_BUCKET": settings.s3_bucket,
        "DIFFSTREAM_S3_ACCESS_KEY": settings.s3_access_key.get_secret_value(),
        "DIFFSTREAM_S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
    }
    cli = [sys.executable, "-m", "diffstream_cli", "--log-level", "WARNING"]
    # Every system queues what it cannot serve yet; the gateway's shedding would refuse it.
    gateway_env = {**shared, "DIFFSTREAM_GATEWAY__SHED_INTERACTIVE_LAG": "0"}
    # Static membership: a restarted member takes its partitions back at once.
    processor_env = {
        **shared,
        **engine_env(options),
        "DIFFSTREAM_PROCESSOR__GROUP_ID": f"{prefix}processors",
        "DIFFSTREAM_PROCESSOR__INSTANCE_ID": f"{prefix}worker",
        "DIFFSTREAM_PROCESSOR__STATIC_MEMBERSHIP": "true",
        "DIFFSTREAM_PROCESSOR__METRICS_PORT": str(metrics_port),
    }
    if options.model == SIM_MODEL:
        # The simulated accelerator leaves the CPU free while it computes, as a GPU does,
        # where the processor's default is two batches under way.
        processor_env["DIFFSTREAM_PROCESSOR__PIPELINE_DEPTH"] = "2"
    sink_env = {
        **shared,
        "DIFFSTREAM_SINK__GROUP_ID": f"{prefix}image-sink",
        "DIFFSTREAM_SINK__INSTANCE_ID": f"{prefix}sink",
        "DIFFSTREAM_SINK__STATIC_MEMBERSHIP": "true",
    }
    gateway = ServerProcess(
        [*cli, "gateway", "--port", str(port)], gateway_env, folder / "gateway.log", root
    )
    processor = ServerProcess([*cli, "process"], processor_env, folder / "processor.log", root)
    sink = ServerProcess([*cli, "sink", "images"], sink_env, folder / "image-sink.log", root)
    client = DiffstreamClient(f"http://127.0.0.1:{port}", api_key)
    return DiffstreamSystem(gateway, processor, sink, client, settings, metrics_port)
