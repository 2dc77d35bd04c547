"""One peers run: the bare loop's capacity, then every system in turn under the same load.

Per system: start it and wait for its first image (retrying while it answers 503 or not at
all, up to ``start_timeout_s``), then three phases, each waiting for every request's
outcome: steady (``steady_fraction`` of the capacity), burst (``burst_factor`` times that
for ``burst_s``: it saturates every system, so its completed/s is the saturation figure),
and kill (the burst's rate for ``kill_s``, the model's process killed with SIGKILL half-way
and brought back). A system that fails is reported as failed and the run goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from diffstream.settings import Settings
from infra.bench.conditions import machine_conditions, package_versions
from infra.bench.cores import off_model_cores
from infra.bench.exceptions import BenchError
from infra.bench.gateway_setup import run_loadgen
from infra.bench.peers.capacity import bare_capacity, request_body
from infra.bench.peers.clients import DiffstreamClient, Http, open_http
from infra.bench.peers.driver import Phase, classify, drive
from infra.bench.peers.figures import (
    Record,
    arrival_times,
    burst_vs_bare,
    lost,
    phase_rates,
    ratios,
    summary,
)
from infra.bench.peers.options import PEERS, PeersOptions
from infra.bench.peers.systems import (
    System,
    diffstream_system,
    missing_framework,
    peer_system,
)

log = logging.getLogger(__name__)
VERSIONS = ("fastapi", "uvicorn", "ray", "bentoml", "litserve", "httpx")
_WARM_REQUESTS = 8


def run_peers(settings: Settings, options: PeersOptions, console: Console) -> dict[str, Any]:
    """Every figure once; the report as a dict."""
    began = time.perf_counter()
    stack_pids: list[int] = []
    if options.bring_stack_up and "diffstream" in options.systems:
        from infra.stack.local import LocalStack  # noqa: PLC0415

        stack_pids = LocalStack(settings).up().pids
    # Read before the bench gives the model's cores away: the machine's own figures.
    conditions = {**machine_conditions(), **asdict(options)}
    with off_model_cores(options.model_cores, stack_pids):
        report = _run(settings, options, conditions, console)
    report["duration_s"] = time.perf_counter() - began
    return report


def _run(
    settings: Settings, options: PeersOptions, conditions: dict[str, Any], console: Console
) -> dict[str, Any]:
    conditions["versions"] |= package_versions(VERSIONS)
    capacity = _capacity(settings, options, console)
    steady, burst = (
        (options.rate, options.rate * options.burst_factor)
        if options.rate is not None
        else phase_rates(
            capacity["images_per_s"],
            steady_fraction=options.steady_fraction,
            burst_factor=options.burst_factor,
            max_rate=options.max_rate,
        )
    )
    console.print(f"offered: steady {steady:.1f} req/s, burst {burst:.1f} req/s")
    folder = settings.home / "bench-peers" / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "conditions": conditions,
        "capacity": capacity,
        "rates": {"steady_per_s": steady, "burst_per_s": burst},
        "logs": str(folder),
        "systems": {},
    }
    bare_before = capacity["images_per_s"]
    for name in options.systems:
        console.rule(name)
        outcome = _one_system(
            settings,
            options=options,
            name=name,
            rates=(steady, burst),
            folder=folder,
            console=console,
        )
        report["systems"][name] = outcome
        if outcome["status"] != "ok":
            console.print(f"[red]{name} {outcome['status']}:[/red] {outcome['reason']}")
            continue
        # The bare loop again, so each system's throughput is also read against the
        # machine's speed at its own time (see burst_vs_bare).
        bare_after = _capacity(settings, options, console)["images_per_s"]
        outcome["bare_around"] = [bare_before, bare_after]
        outcome["burst"]["vs_bare"] = burst_vs_bare(outcome["burst"], bare_before, bare_after)
        bare_before = bare_after
    report |= ratios(report["systems"])
    report["lost_on_kill"] = {
        name: figures.get("kill", {}).get("lost") for name, figures in report["systems"].items()
    }
    conditions["load_average_after"] = list(os.getloadavg())
    return report


def _capacity(settings: Settings, options: PeersOptions, console: Console) -> dict[str, Any]:
    """The bare loop's figures; skipped (None) only when a rate is given and capacity_s is
    0, as the smoke test does to spare a torch import."""
    if options.rate is not None and options.capacity_s <= 0:
        return {"images_per_s": None, "skipped": "--rate given and capacity_s 0"}
    began = time.perf_counter()
    console.print(f"bare loop: {options.model} {options.side}px, {options.steps} steps, batch 8")
    capacity = bare_capacity(settings, options)
    capacity["wall_s"] = time.perf_counter() - began
    console.print(f"bare loop: {capacity['images_per_s']:.1f} img/s")
    return capacity


def _one_system(
    settings: Settings,
    *,
    options: PeersOptions,
    name: str,
    rates: tuple[float, float],
    folder: Path,
    console: Console,
) -> dict[str, Any]:
    reason = missing_framework(name) if name in PEERS else None
    if reason is not None:
        return {"status": "skipped", "reason": reason}
    system: System | None = None
    try:
        system = _build(settings, options, name, folder)
        return run_loadgen(_measure(system, options, rates, console))
    except Exception as error:  # one system failing must not end the run
        log.exception("%s failed", name)
        tail = system.log_tail()[-600:] if system is not None else ""
        return {"status": "failed", "reason": f"{type(error).__name__}: {error}", "log": tail}
    finally:
        if system is not None:
            system.stop()


def _build(settings: Settings, options: PeersOptions, name: str, folder: Path) -> System:
    if name in PEERS:
        return peer_system(name, options, folder)
    from infra.topic_provisioning import create_topics  # noqa: PLC0415
    from producers.gateway.keys import create_key  # noqa: PLC0415  # the gateway extra

    own = settings.model_copy(update={"topic_prefix": f"bench-peers-{uuid.uuid4().hex[:8]}."})
    create_topics(own)
    key = create_key(own, "bench", rate_per_s=1e6, images_per_min=10**9, max_in_flight=10**9)
    return diffstream_system(own, key.key, options, folder)


async def _measure(
    system: System, options: PeersOptions, rates: tuple[float, float], console: Console
) -> dict[str, Any]:
    steady, burst = rates
    started = time.perf_counter()
    system.start()
    async with open_http() as http:
        await _warm_up(system, http, options)
        startup_s = time.perf_counter() - started
        out: dict[str, Any] = {"status": "ok", "startup_s": startup_s}
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            phases = _Phases(system, http, options, progress)
            if options.warmup_s > 0:
                out["warmup"] = summary(
                    await phases.run("warm-up", steady, options.warmup_s, 0), options.timeout_s
                )
            if isinstance(system.client, DiffstreamClient):  # the warm-up's tries do not count
                system.client.retried.clear()
            out["steady"] = summary(
                await phases.run("steady", steady, options.steady_s, 1), options.timeout_s
            )
            model_before = system.model_seconds()
            out["burst"] = summary(
                await phases.run("burst", burst, options.burst_s, 2), options.timeout_s
            )
            out["burst"]["model_busy_ratio"] = _busy(system, model_before, phases.walls["burst"])
            # A request of the kill phase may wait for the restart too: it is lost only
            # when no image comes even then.
            kill: dict[str, Any] = {}
            at = options.kill_s / 2
            patience = options.timeout_s + startup_s + max(options.self_heal_s, 1.5 * startup_s)
            records = await phases.run(
                "kill -9",
                burst,
                options.kill_s,
                3,
                timeout_s=patience,
                at=(at, lambda: _kill(system, options, startup_s, kill)),
            )
    out["phase_wall_s"] = phases.walls
    out["kill"] = {
        **summary(records, patience),
        **kill,
        "lost": lost(records),
        "timeout_s": patience,
    }
    # Serving again: the first image of a request sent after the kill.
    back = [r.ended for r in records if r.outcome == "ok" and r.ended is not None and r.due >= at]
    out["kill"]["first_image_after_kill_s"] = min(back) - at if back else None
    if isinstance(system.client, DiffstreamClient):  # the only client that tries again
        out["client_retries"] = dict(Counter(system.client.retried))
    return out


def _busy(system: System, model_before: float | None, wall_s: float) -> float | None:
    """The share of a phase's wall time the model ran, where the system says (diffstream:
    its processor's inference seconds); whether the model or the path around it set the
    pace."""
    model_after = system.model_seconds()
    if model_before is None or model_after is None or wall_s <= 0:
        return None
    return (model_after - model_before) / wall_s


class _Phases:
    """Phases of one system, each a progress bar of its own."""

    def __init__(
        self, system: System, http: Http, options: PeersOptions, progress: Progress
    ) -> None:
        self.system, self.http, self.options, self.progress = system, http, options, progress
        self.walls: dict[str, float] = {}  # seconds each phase took, until every outcome

    async def run(
        self,
        label: str,
        rate: float,
        seconds: float,
        seed: int,
        *,
        timeout_s: float | None = None,
        at: tuple[float, Callable[[], Awaitable[None]]] | None = None,
    ) -> list[Record]:
        """``seconds`` of arrivals at ``rate`` (the same arrivals for every system)."""
        options = self.options
        due = arrival_times(rate, seconds, poisson=options.poisson, seed=seed)
        task = self.progress.add_task(
            f"{self.system.name} {label} ({rate:.0f}/s)", total=len(due), failed=0
        )

        def tick(record: Record) -> None:
            self.progress.advance(task)
            if record.outcome != "ok":
                failed = self.progress.tasks[task].fields["failed"] + 1
                self.progress.update(task, failed=failed)

        phase = Phase(
            due, lambda index: request_body(options, index), timeout_s or options.timeout_s
        )
        began = time.perf_counter()
        records = await drive(self.http, self.system.client, phase, on_tick=tick, at=at)
        self.walls[label] = time.perf_counter() - began
        return records


async def _kill(
    system: System, options: PeersOptions, startup_s: float, into: dict[str, Any]
) -> None:
    """SIGKILL the model's process, then bring the system back (in a thread: the arrivals
    go on meanwhile)."""
    pid = system.model_pid()
    if pid is None:
        raise BenchError(f"{system.name} has no model process to kill (its pid file is empty)")
    os.kill(pid, signal.SIGKILL)
    killed = time.perf_counter()
    # A system that brings its model back itself gets as long as its first start took.
    allowance = max(options.self_heal_s, 1.5 * startup_s)
    into["recovery"] = await asyncio.to_thread(system.recover, pid, allowance)
    into["recovery_s"] = time.perf_counter() - killed


async def _warm_up(system: System, http: Http, options: PeersOptions) -> None:
    """Until the first image: a system may refuse (BentoML answers 503 while its model
    loads) or not listen yet; then a batch's worth at once, to warm the batching path."""
    deadline = time.monotonic() + options.start_timeout_s
    last = "no answer yet"
    while True:
        if not system.running():
            raise BenchError(f"{system.name} exited while starting: {system.log_tail()[-400:]}")
        try:
            await asyncio.wait_for(system.client.image(http, request_body(options, 0)), 60)
            break
        except Exception as error:  # not ready yet: ask again until the deadline
            last = classify(error)[1]
        if time.monotonic() > deadline:
            raise BenchError(
                f"{system.name} gave no image within start_timeout_s={options.start_timeout_s:g}s "
                f"(last answer: {last}): raise --start-timeout-s, or see its log"
            )
        await asyncio.sleep(0.5)
    warm = [system.client.image(http, request_body(options, i)) for i in range(_WARM_REQUESTS)]
    await asyncio.gather(*warm)
