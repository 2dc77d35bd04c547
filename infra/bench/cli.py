"""`diffstream bench [--json FILE]`: measure the pipeline against a bare diffusers loop."""

from __future__ import annotations

import json as json_module
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, RenderableType

from diffstream.settings import GroupProtocol, Settings
from infra.bench.peers.options import SYSTEMS, PeersOptions
from infra.bench.sim_max import RATES

log = logging.getLogger(__name__)
console = Console()
DEFAULT_RATES = ",".join(f"{rate:g}" for rate in RATES)


# Every bench command's --json.
JsonFile = Annotated[Path | None, typer.Option(help="also write the figures as JSON to this file")]
# Options several bench commands share (each with its own default).
ImageSide = Annotated[int, typer.Option(min=8, help="image side in pixels")]
Steps = Annotated[int, typer.Option(min=1, help="inference steps")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda or mps")]
SimRates = Annotated[
    str, typer.Option(help="simulated img/s tried for sim_max_img_s, comma-separated")
]
CpuThreads = Annotated[
    int | None, typer.Option(min=1, help="torch threads of every model (default: torch's)")
]
ModelCores = Annotated[
    str | None,
    typer.Option(help="comma-separated cores for the model's calls, all else kept off them"),
]


def _show(figures: RenderableType, report: dict[str, Any], path: Path | None) -> None:
    """Every bench command's end: its table on the console, its figures to ``--json``."""
    console.print(figures)
    _write_json(path, report)


def _write_json(path: Path | None, report: dict[str, Any]) -> None:
    """``--json``: the figures as one JSON document (times and paths as text)."""
    if path is not None:
        path.write_text(json_module.dumps(report, indent=2, default=str) + "\n")
        console.print(f"figures written to {path}")


def bench(  # noqa: PLR0917 (typer: one parameter per option)
    ctx: typer.Context,
    json: JsonFile = None,
    repeats: Annotated[int, typer.Option(min=1, help="runs of each figure")] = 3,
    images_batch1: Annotated[int, typer.Option(min=1, help="images per batch-1 round")] = 16,
    images_batch8: Annotated[int, typer.Option(min=8, help="images per batch-8 round")] = 32,
    latency_requests: Annotated[int, typer.Option(min=1, help="one-at-a-time requests")] = 40,
    control_plane_events: Annotated[int, typer.Option(min=1, help="events per run")] = 20_000,
    null_requests: Annotated[int, typer.Option(min=1, help="null-model requests per run")] = 200,
    sim_requests: Annotated[
        int, typer.Option(min=1, help="512x512 requests per accelerator_busy_ratio run")
    ] = 200,
    sim_rates: SimRates = DEFAULT_RATES,
    model: Annotated[str, typer.Option(help="model for the efficiency figures")] = "tiny-sd",
    size: ImageSide = 64,
    steps: Steps = 10,
    device: Device = "auto",
    cpu_threads: CpuThreads = None,
    model_cores: ModelCores = None,
    replication: Annotated[
        bool,
        typer.Option(
            "--replication",
            help="also measure replication_cost_ratio on a 3-broker cluster the bench starts",
        ),
    ] = False,
    fleet: Annotated[
        bool,
        typer.Option("--fleet", help="also run 1, 2 and 4 processor processes (sim, 10 img/s)"),
    ] = False,
    profile: Annotated[
        Path | None, typer.Option(help="write cProfile stats of each role's thread here")
    ] = None,
) -> None:
    """Pipeline vs bare diffusers loop, batching gain, added latency, control plane, a
    simulated accelerator's busy ratio and sim_max_img_s (`bench gateway`: the HTTP
    gateway's figures; `bench encoding`: encoding costs; `bench accelerator`: only the
    simulated accelerator's)."""
    if ctx.invoked_subcommand is not None:
        return
    # Here, not at the top: every command of the CLI (a processor's start too) mounts this.
    from infra.bench.report import table  # noqa: PLC0415
    from infra.bench.runner import BenchOptions, run_bench  # noqa: PLC0415

    options = BenchOptions(
        repeats=repeats,
        images_batch1=images_batch1,
        images_batch8=images_batch8,
        latency_requests=latency_requests,
        control_plane_events=control_plane_events,
        null_requests=null_requests,
        sim_requests=sim_requests,
        sim_rates=_rates(sim_rates),
        model=model,
        side=size,
        steps=steps,
        device=device,
        cpu_threads=cpu_threads,
        model_cores=_cores(model_cores),
        profile_dir=profile,
        replication=replication,
        fleet=fleet,
    )
    report = run_bench(Settings(), options)
    _show(table(report), report, json)


def bench_gateway(  # noqa: PLR0917 (typer: one parameter per option)
    json: JsonFile = None,
    duration: Annotated[float, typer.Option(min=1, help="seconds of each POST phase")] = 10.0,
    rate: Annotated[float, typer.Option(min=1, help="offered req/s for the latency figure")] = 500,
    connections: Annotated[int, typer.Option(min=1, help="connections for saturation")] = 32,
    watchers: Annotated[int, typer.Option(min=1, help="SSE watchers")] = 1000,
    use_wrk: Annotated[
        bool, typer.Option("--wrk/--no-wrk", help="saturate with wrk (apt-get installs it)")
    ] = True,
) -> None:
    """The HTTP gateway: accepted submits/s per process, POST p50/p99 at a fixed offered
    rate (open loop), SSE fan-out delay with many watchers."""
    from infra.bench.gateway import gateway_table, run_gateway_bench  # noqa: PLC0415
    from infra.bench.gateway_setup import GatewayBenchOptions  # noqa: PLC0415 (gateway extra)

    options = GatewayBenchOptions(
        saturate_s=max(int(duration), 1),
        fixed_s=duration,
        fixed_rate=rate,
        connections=connections,
        watchers=watchers,
        use_wrk=use_wrk,
    )
    report = run_gateway_bench(Settings(), options)
    _show(gateway_table(report), report, json)


def bench_encoding(
    json: JsonFile = None,
    size: ImageSide = 512,
    pictures: Annotated[int, typer.Option(min=1, help="distinct pictures")] = 4,
    repeats: Annotated[int, typer.Option(min=1, help="encodes of each picture")] = 3,
    photos: Annotated[
        bool, typer.Option("--photos/--no-photos", help="also encode scikit-learn's photographs")
    ] = True,
) -> None:
    """CPU ms per image of PNG (levels 0, 1, 3, 6, 9), WebP and JPEG on the sim model's
    pictures (and two photographs, as the reference), one thread; no broker needed."""
    from infra.bench.encoding import encoding_costs, encoding_table  # noqa: PLC0415

    report = encoding_costs(side=size, pictures=pictures, repeats=repeats, photos=photos)
    _show(encoding_table(report), report, json)


def bench_fleet(
    json: JsonFile = None,
    requests_per_member: Annotated[
        int, typer.Option(min=10, help="backlog per member in a throughput round")
    ] = 120,
    group_protocol: Annotated[
        GroupProtocol,
        typer.Option(help="the members' group protocol: consumer (KIP-848) or classic"),
    ] = "consumer",
) -> None:
    """1, 2 and 4 processor processes, each with a simulated 10 img/s accelerator:
    throughput per count, scaling_efficiency_4, a new member's time to its first result,
    and the requests lost when a member is stopped with SIGTERM (on the running stack)."""
    from infra.bench.fleet import (  # noqa: PLC0415
        FleetOptions,
        fleet_log_dir,
        fleet_run,
        fleet_table,
    )
    from infra.bench.report import figures_table  # noqa: PLC0415
    from infra.stack.local import LocalStack  # noqa: PLC0415

    settings = Settings()
    LocalStack(settings).up()
    logs = fleet_log_dir(settings)
    options = FleetOptions(
        requests_per_member=requests_per_member, log_dir=logs, group_protocol=group_protocol
    )
    report = fleet_run(settings, options, console.log)
    out = figures_table("diffstream bench fleet", measured="measured")
    for row in fleet_table(report):
        out.add_row(*row)
    console.print(out)
    console.print(f"the roles' logs: {logs}")
    _write_json(json, report)


def bench_peers(  # noqa: PLR0917 (typer: one parameter per option)
    json: JsonFile = None,
    model: Annotated[str, typer.Option(help="digits, tiny-sd, sim or null")] = "digits",
    systems: Annotated[
        str, typer.Option(help="comma-separated: diffstream, fastapi, ray_serve, bentoml, litserve")
    ] = ",".join(SYSTEMS),
    size: ImageSide = 64,
    steps: Steps = 20,
    device: Device = "cpu",
    cpu_threads: CpuThreads = None,
    model_cores: ModelCores = None,
    warmup_s: Annotated[
        float, typer.Option(min=0, help="unmeasured seconds at the steady rate, first")
    ] = 30.0,
    steady_s: Annotated[float, typer.Option(min=0.5, help="seconds of the steady phase")] = 15.0,
    burst_s: Annotated[float, typer.Option(min=0.5, help="seconds of the 5x burst")] = 10.0,
    kill_s: Annotated[
        float, typer.Option(min=0.5, help="seconds of the kill phase (kill -9 half-way)")
    ] = 6.0,
    rate: Annotated[
        float | None, typer.Option(min=0.1, help="steady req/s (default: 80% of the bare loop)")
    ] = None,
    max_rate: Annotated[float, typer.Option(min=0.1, help="at most this steady req/s")] = 100.0,
    timeout_s: Annotated[float, typer.Option(min=1, help="per request, from its due time")] = 60.0,
    fixed_rate: Annotated[
        bool, typer.Option("--fixed-rate/--poisson", help="evenly spaced or Poisson arrivals")
    ] = False,
) -> None:
    """diffstream against Ray Serve, BentoML, LitServe and plain FastAPI: the same model and
    open-loop load over HTTP (steady at 80% of the bare loop, a 5x burst, kill -9)."""
    from infra.bench.peers.report import peers_table  # noqa: PLC0415
    from infra.bench.peers.runner import run_peers  # noqa: PLC0415

    chosen = tuple(name.strip() for name in systems.split(",") if name.strip())
    unknown = sorted(set(chosen) - set(SYSTEMS))
    if unknown:
        raise typer.BadParameter(
            f"unknown {', '.join(unknown)}: choose from {', '.join(SYSTEMS)}",
            param_hint="--systems",
        )
    options = PeersOptions(
        systems=chosen,
        model=model,
        side=size,
        steps=steps,
        device=device,
        cpu_threads=cpu_threads,
        model_cores=_cores(model_cores),
        warmup_s=warmup_s,
        steady_s=steady_s,
        burst_s=burst_s,
        kill_s=kill_s,
        rate=rate,
        max_rate=max_rate,
        timeout_s=timeout_s,
        poisson=not fixed_rate,
    )
    report = run_peers(Settings(), options, console)
    _show(peers_table(report), report, json)


def bench_accelerator(
    json: JsonFile = None,
    repeats: Annotated[int, typer.Option(min=1, help="rounds of each busy ratio")] = 3,
    sim_requests: Annotated[
        int, typer.Option(min=8, help="512x512 requests per busy-ratio round")
    ] = 200,
    rates: SimRates = DEFAULT_RATES,
) -> None:
    """Only the simulated accelerator: accelerator_busy_ratio pipelined and not (rounds
    alternated in one run) and sim_max_img_s with what limits it."""
    from infra.bench.accelerator_run import run_accelerator_bench  # noqa: PLC0415
    from infra.bench.report import accelerator_table  # noqa: PLC0415

    tried = _rates(rates)
    report = run_accelerator_bench(Settings(), requests=sim_requests, repeats=repeats, rates=tried)
    _show(accelerator_table(report), report, json)


def _rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(sorted(float(part) for part in text.split(",") if part.strip()))
    except ValueError:
        rates = ()
    if not rates or min(rates) <= 0:
        raise typer.BadParameter(
            f"--rates {text!r} is not a list of positive img/s: give e.g. --rates 25,50,100"
        )
    return rates


def bench_coldstart(
    json: JsonFile = None,
    models: Annotated[str, typer.Option(help="comma-separated built-in models")] = "digits,tiny-sd",
) -> None:
    """A fresh processor per model: start to ready, and the first request with the model
    not cached (pull + load), cached on disk, and already loaded (against a running stack)."""
    from infra.bench.coldstart import coldstart_table, run_coldstart  # noqa: PLC0415

    report = run_coldstart(Settings(), [m.strip() for m in models.split(",") if m.strip()])
    _show(coldstart_table(report), report, json)


def _cores(text: str | None) -> tuple[int, ...] | None:
    """``--model-cores``: "1" or "2,3", sorted, each once."""
    if text is None:
        return None
    try:
        cores = tuple(sorted({int(part) for part in text.split(",")}))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a comma-separated list of core numbers, e.g. 1 or 2,3",
            param_hint="--model-cores",
        ) from None
    if min(cores) < 0:
        raise typer.BadParameter("core numbers start at 0", param_hint="--model-cores")
    return cores
