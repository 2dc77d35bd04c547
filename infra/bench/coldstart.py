"""``diffstream bench coldstart``: how long a fresh processor takes, per model.

- start to ready: ``diffstream process`` (a new interpreter, the model preloaded from the
  store and warmed up) until its ``/readyz`` answers 200, i.e. it joined the group;
- first request with the model not cached (pull from the bucket + load + generate) and
  cached on disk (load + generate), each in a fresh interpreter whose engine is up
  (``infra.bench.coldstart_probe``), so both pay for importing the model's code; and already
  loaded (generate only: the baseline, measured in the same runs).
``bytecode_compiled`` says whether the interpreter found torch's and diffusers' ``.pyc``
files: without them (``PYTHONDONTWRITEBYTECODE`` and a venv installed without
``--compile-bytecode``) every figure above pays for compiling them, seconds on 2 cores.
The built-ins are pushed to the store first (idempotent), as ``stack up`` does.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from rich.table import Table

from diffstream.settings import Settings
from infra.stack.ports import free_port
from infra.topic_provisioning import create_topics, delete_topics

READY_TIMEOUT_S = 300.0
SIDES = {"digits": 64, "tiny-sd": 64}
STEPS = 10


def run_coldstart(settings: Settings, models: list[str]) -> dict[str, Any]:
    """Every figure of every model, with the conditions they were measured under."""
    from processors.store.builtins import push_builtins  # noqa: PLC0415  # torch (tiny-sd)

    revisions = {p.name: p.prod for p in push_builtins(settings)}
    figures: dict[str, Any] = {}
    for model in models:
        revision = revisions.get(model)
        if revision is None:
            raise ValueError(f"--models {model!r}: bench coldstart measures {sorted(revisions)}")
        side = SIDES.get(model, 64)
        probe = _probe(settings, model, revision, side)
        probe["start_to_ready_s"] = _start_to_ready(settings, model)
        loaded = probe["request_loaded_s"]
        probe["not_cached_minus_loaded_s"] = probe["first_request_not_cached_s"] - loaded
        probe["cached_minus_loaded_s"] = probe["first_request_cached_on_disk_s"] - loaded
        probe["not_cached_over_loaded"] = probe["first_request_not_cached_s"] / loaded
        figures[model] = {"revision": revision, "side": side, "steps": STEPS, **probe}
    return {
        "models": figures,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "bytecode_compiled": bytecode_compiled(),
    }


def bytecode_compiled() -> bool:
    """Whether torch's and diffusers' modules have their ``.pyc`` files next to them."""
    for package in ("torch", "diffusers"):
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            continue
        if not Path(importlib.util.cache_from_source(spec.origin)).is_file():
            return False
    return True


def _env(settings: Settings, cache_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DIFFSTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DIFFSTREAM_S3_ENDPOINT": settings.s3_endpoint,
        "DIFFSTREAM_S3_BUCKET": settings.s3_bucket,
        "DIFFSTREAM_HOME": str(settings.home),
        "DIFFSTREAM_MODELS__CACHE_DIR": str(cache_dir),
        **extra,
    }


def _probe(settings: Settings, model: str, revision: str, side: int) -> dict[str, float]:
    """Two fresh interpreters on one cache directory: empty (pulled), then filled."""
    with tempfile.TemporaryDirectory(prefix="coldstart-cache-") as cache:
        pulled = _probe_once(settings, model, revision, side, Path(cache))
        on_disk = _probe_once(settings, model, revision, side, Path(cache))
    return {
        "imports_s": pulled["imports_s"],
        "engine_s": pulled["engine_s"],
        "first_request_not_cached_s": pulled["first_request_s"],
        "first_request_cached_on_disk_s": on_disk["first_request_s"],
        "request_loaded_s": min(pulled["request_loaded_s"], on_disk["request_loaded_s"]),
        "cache_bytes": pulled["cache_bytes"],
    }


def _probe_once(
    settings: Settings, model: str, revision: str, side: int, cache: Path
) -> dict[str, float]:
    command = [sys.executable, "-m", "infra.bench.coldstart_probe", model, revision]
    done = subprocess.run(
        [*command, str(side), str(STEPS)],
        env=_env(settings, cache, DIFFSTREAM_TOPIC_PREFIX=settings.topic_prefix),
        capture_output=True,
        text=True,
        timeout=READY_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the cold-start probe of {model} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _start_to_ready(settings: Settings, model: str) -> float:
    """``diffstream process`` with ``model`` preloaded (not cached) until ``/readyz`` is 200,
    on topics and a group of its own (under the stack's prefix)."""
    prefix = f"{settings.topic_prefix}coldstart{uuid.uuid4().hex[:6]}."
    own = settings.model_copy(update={"topic_prefix": prefix})
    create_topics(own)
    # Aliases are the stack's: copy prod of the model onto the bench's prefix.
    from processors.store.aliases import write_alias  # noqa: PLC0415
    from processors.store.operations import read_aliases  # noqa: PLC0415

    prod = read_aliases(settings).revision(model, "prod")
    if prod is not None:
        write_alias(own, model, "prod", prod)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="coldstart-cache-") as cache:
        env = _env(
            settings,
            Path(cache),
            DIFFSTREAM_TOPIC_PREFIX=prefix,
            DIFFSTREAM_PROCESSOR__METRICS_PORT=str(port),
            DIFFSTREAM_PROCESSOR__GROUP_ID=f"{prefix}processors",
            DIFFSTREAM_PROCESSOR__INSTANCE_ID=f"{prefix}worker",
            DIFFSTREAM_ENGINE__PRELOAD=json.dumps([model]),
            DIFFSTREAM_ENGINE__DEVICE="cpu",
        )
        began = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "diffstream_cli", "process"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            return _wait_ready(port, began, process)
        finally:
            process.terminate()
            process.wait(60)
            delete_topics(own)


def _wait_ready(port: int, began: float, process: subprocess.Popen[bytes]) -> float:
    deadline = began + READY_TIMEOUT_S
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"diffstream process exited {process.returncode}:\n{err[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return time.perf_counter() - began
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"diffstream process was not ready within {READY_TIMEOUT_S:g}s")


def coldstart_table(report: dict[str, Any]) -> Table:
    """The figures, one row per model."""
    table = Table(
        "model",
        "start to ready",
        "imports",
        "first request: not cached",
        "cached on disk",
        "loaded",
        "not cached - loaded",
        title=f"cold start ({report['cpu_count']} CPUs, seconds"
        + ("" if report.get("bytecode_compiled", True) else "; no .pyc files: inflated")
        + ")",
    )
    for model, f in report["models"].items():
        table.add_row(
            f"{model}@{f['revision']}",
            f"{f['start_to_ready_s']:.2f}",
            f"{f['imports_s']:.2f}",
            f"{f['first_request_not_cached_s']:.2f}",
            f"{f['first_request_cached_on_disk_s']:.2f}",
            f"{f['request_loaded_s']:.3f}",
            f"{f['not_cached_minus_loaded_s']:.2f} ({f['not_cached_over_loaded']:.1f}x)",
        )
    return table
