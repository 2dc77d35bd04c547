"""Jaeger (v2, the OpenTelemetry Collector based all-in-one) as a local trace collector.

Built from its Go module with Go's own tools at a pinned version and cached under
``DIFFSTREAM_HOME/artifacts`` like Helm (its go.mod has ``replace`` directives, so it is
built inside a throw-away module, ``go_build_in_module``, rather than with ``go install``). It runs
on 127.0.0.1 only, keeps traces in memory, receives OTLP/HTTP and answers Jaeger's query
API (``/api/traces/<id>``); the UI's assets are not part of a source build.

    python -m infra.deploy.jaeger [--otlp-port 4318] [--query-port 16686] [--build-only]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from diffstream.settings import Settings
from diffstream.signals import stop_on_signals
from infra.deploy.tools import go_build_in_module
from infra.stack.ports import free_port

log = logging.getLogger(__name__)

JAEGER_MODULE = "github.com/jaegertracing/jaeger"
JAEGER_VERSION = "v1.76.0"
START_TIMEOUT_S = 30.0


def jaeger_path(settings: Settings) -> Path:
    """Where the pinned build lives (it may not be built yet)."""
    return settings.artifacts / f"jaeger-{JAEGER_VERSION}" / "jaeger"


def jaeger_binary(settings: Settings) -> Path:
    """The pinned ``jaeger``, built on first use (several minutes on two cores)."""
    package = f"{JAEGER_MODULE}/cmd/jaeger"
    return go_build_in_module(settings, package, JAEGER_VERSION, jaeger_path(settings), "Jaeger")


def jaeger_config(otlp_port: int, query_port: int, query_grpc_port: int) -> dict[str, Any]:
    """An all-in-one on 127.0.0.1: OTLP/HTTP in, traces in memory, the query API out."""
    memory = "memstore"
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["batch"],
                    "exporters": ["jaeger_storage_exporter"],
                }
            },
            # No metrics endpoint of its own (its default port would collide between runs).
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
        },
        "extensions": {
            "jaeger_storage": {"backends": {memory: {"memory": {"max_traces": 10_000}}}},
            "jaeger_query": {
                "storage": {"traces": memory},
                "http": {"endpoint": f"127.0.0.1:{query_port}"},
                "grpc": {"endpoint": f"127.0.0.1:{query_grpc_port}"},
            },
        },
        "receivers": {
            "otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp_port}"}}},
        },
        "processors": {"batch": {"timeout": "100ms"}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": memory}},
    }


class LocalJaeger:
    """A Jaeger process of its own, on free ports unless told; a context manager."""

    def __init__(
        self, settings: Settings, *, otlp_port: int | None = None, query_port: int | None = None
    ) -> None:
        self.binary = jaeger_binary(settings)
        self.otlp_port = otlp_port or free_port()
        self.query_port = query_port or free_port()
        self._folder = Path(tempfile.mkdtemp(prefix="diffstream-jaeger-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def otlp_endpoint(self) -> str:
        """What ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set to."""
        return f"http://127.0.0.1:{self.otlp_port}"

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.query_port}"

    def start(self) -> LocalJaeger:
        """Start it and wait until the query API answers."""
        config = self._folder / "config.json"  # JSON is YAML: the collector reads it as is
        config.write_text(json.dumps(jaeger_config(self.otlp_port, self.query_port, free_port())))
        log_file = (self._folder / "jaeger.log").open("wb")
        self._process = subprocess.Popen(
            [str(self.binary), "--config", str(config)], stdout=log_file, stderr=log_file
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"jaeger exited at start: {self.log_tail()}")
            try:
                httpx.get(f"{self.query_url}/api/services", timeout=1).raise_for_status()
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"jaeger did not answer within {START_TIMEOUT_S:g}s: {self.log_tail()}")

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """The trace as Jaeger's query API shows it (spans and processes), None if unknown."""
        answer = httpx.get(f"{self.query_url}/api/traces/{trace_id}", timeout=5)
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        data = answer.json().get("data") or []
        return dict(data[0]) if data else None

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        path = self._folder / "jaeger.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> LocalJaeger:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def main() -> None:
    """Run a local Jaeger in the foreground until SIGTERM or Ctrl-C (which stop it too)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--otlp-port", type=int, default=4318)
    parser.add_argument("--query-port", type=int, default=16686)
    parser.add_argument("--build-only", action="store_true", help="build (once), then exit")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    if args.build_only:
        print(jaeger_binary(Settings()), flush=True)
        return
    stop = stop_on_signals()
    with LocalJaeger(Settings(), otlp_port=args.otlp_port, query_port=args.query_port) as jaeger:
        print(f"export OTEL_EXPORTER_OTLP_ENDPOINT={jaeger.otlp_endpoint}", flush=True)
        print(f"traces: curl -s {jaeger.query_url}/api/traces/<trace id>", flush=True)
        while jaeger.running() and not stop.wait(0.5):
            pass


if __name__ == "__main__":
    main()
