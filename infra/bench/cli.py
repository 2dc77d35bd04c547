"""`diffstream bench [--json FILE]`: measure the pipeline against a bare diffusers loop."""

from __future__ import annotations

import json as json_module
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from diffstream.settings import Settings
from infra.bench.report import table
from infra.bench.runner import BenchOptions, run_bench

log = logging.getLogger(__name__)
console = Console()


def bench(  # noqa: PLR0917 (typer: one parameter per option)
    ctx: typer.Context,
    json: Annotated[
        Path | None, typer.Option(help="also write the figures as JSON to this file")
    ] = None,
    repeats: Annotated[int, typer.Option(min=1, help="runs of each figure")] = 3,
    images_batch1: Annotated[int, typer.Option(min=1, help="images per batch-1 round")] = 16,
    images_batch8: Annotated[int, typer.Option(min=8, help="images per batch-8 round")] = 32,
    latency_requests: Annotated[int, typer.Option(min=1, help="one-at-a-time requests")] = 40,
    control_plane_events: Annotated[int, typer.Option(min=1, help="events per run")] = 20_000,
    null_requests: Annotated[int, typer.Option(min=1, help="null-model requests per run")] = 200,
    sim_requests: Annotated[
        int, typer.Option(min=1, help="512x512 requests per accelerator_busy_ratio run")
    ] = 200,
    model: Annotated[str, typer.Option(help="model for the efficiency figures")] = "tiny-sd",
    size: Annotated[int, typer.Option(min=8, help="image side in pixels")] = 64,
    steps: Annotated[int, typer.Option(min=1, help="inference steps")] = 10,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps")] = "auto",
    replication: Annotated[
        bool,
        typer.Option(
            "--replication",
            help="also measure replication_cost_ratio on a 3-broker cluster the bench starts",
        ),
    ] = False,
    profile: Annotated[
        Path | None, typer.Option(help="write cProfile stats of each role's thread here")
    ] = None,
) -> None:
    """Pipeline vs bare diffusers loop, batching gain, added latency, control plane, a
    simulated accelerator's busy ratio (`bench gateway`: the HTTP gateway's figures;
    `bench encoding`: encoding costs)."""
    if ctx.invoked_subcommand is not None:
        return
    options = BenchOptions(
        repeats=repeats,
        images_batch1=images_batch1,
        images_batch8=images_batch8,
        latency_requests=latency_requests,
        control_plane_events=control_plane_events,
        null_requests=null_requests,
        sim_requests=sim_requests,
        model=model,
        side=size,
        steps=steps,
        device=device,
        profile_dir=profile,
        replication=replication,
    )
    report = run_bench(Settings(), options)
    console.print(table(report))
    if json is not None:
        json.write_text(json_module.dumps(report, indent=2, default=str) + "\n")
        console.print(f"figures written to {json}")


def bench_gateway(  # noqa: PLR0917 (typer: one parameter per option)
    json: Annotated[
        Path | None, typer.Option(help="also write the figures as JSON to this file")
    ] = None,
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
    console.print(gateway_table(report))
    if json is not None:
        json.write_text(json_module.dumps(report, indent=2, default=str) + "\n")
        console.print(f"figures written to {json}")


def bench_encoding(
    json: Annotated[
        Path | None, typer.Option(help="also write the figures as JSON to this file")
    ] = None,
    size: Annotated[int, typer.Option(min=8, help="image side in pixels")] = 512,
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
    console.print(encoding_table(report))
    if json is not None:
        json.write_text(json_module.dumps(report, indent=2) + "\n")
        console.print(f"figures written to {json}")


def bench_coldstart(
    json: Annotated[
        Path | None, typer.Option(help="also write the figures as JSON to this file")
    ] = None,
    models: Annotated[str, typer.Option(help="comma-separated built-in models")] = "digits,tiny-sd",
) -> None:
    """A fresh processor per model: start to ready, and the first request with the model
    not cached (pull + load), cached on disk, and already loaded (against a running stack)."""
    from infra.bench.coldstart import coldstart_table, run_coldstart  # noqa: PLC0415

    report = run_coldstart(Settings(), [m.strip() for m in models.split(",") if m.strip()])
    console.print(coldstart_table(report))
    if json is not None:
        json.write_text(json_module.dumps(report, indent=2) + "\n")
        console.print(f"figures written to {json}")
