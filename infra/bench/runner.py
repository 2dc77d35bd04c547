"""One bench run: the stack up, one engine, then every measurement in turn."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from diffstream.settings import Settings
from infra.bench.accelerator import sim_engine_settings
from infra.bench.accelerator_run import accelerator_figures
from infra.bench.conditions import machine_conditions
from infra.bench.control_plane import codec_per_core, events_per_core, null_model_ceiling
from infra.bench.cores import off_model_cores
from infra.bench.efficiency import Workload, compare
from infra.bench.harness import Harness
from infra.bench.latency import LatencySample, added_latencies
from infra.bench.sim_max import RATES
from infra.bench.stats import percentile, spread

log = logging.getLogger(__name__)

BATCHES = (1, 8)


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """How much to measure; the defaults finish in a few minutes on 2 CPU cores."""

    repeats: int = 3
    images_batch1: int = 16
    images_batch8: int = 32
    latency_requests: int = 40
    control_plane_events: int = 20_000
    null_requests: int = 200
    # Requests per accelerator_busy_ratio round (8 s of the simulated 25 img/s).
    sim_requests: int = 200
    # Simulated img/s tried for sim_max_img_s (then bisected).
    sim_rates: tuple[float, ...] = RATES
    model: str = "tiny-sd"
    side: int = 64
    steps: int = 10
    device: str = "auto"
    # torch threads of the engine (None: torch's default, one per core).
    cpu_threads: int | None = None
    # Cores the real model's calls run on, bare loop and pipeline alike, with everything else
    # (the roles, the stack) kept on the cores left during the efficiency and latency
    # figures: those cores stand in for an accelerator. Sorted; None: nothing is pinned.
    model_cores: tuple[int, ...] | None = None
    bring_stack_up: bool = True
    # Also start a three-broker cluster for replication_cost_ratio (a minute more).
    replication: bool = False
    # Also run the fleet of 1, 2 and 4 processor processes (a few minutes more).
    fleet: bool = False
    profile_dir: Path | None = None


def run_bench(settings: Settings, options: BenchOptions) -> dict[str, Any]:
    """Measure everything once (each figure ``repeats`` times); the report as a dict."""
    from processors.engine.engine import InferenceEngine  # noqa: PLC0415  # brings torch
    from processors.engine.null_model import NULL_MODEL  # noqa: PLC0415
    from processors.engine.sim_model import SIM_MODEL  # noqa: PLC0415
    from processors.serve import quiet_model_libraries  # noqa: PLC0415

    began = time.perf_counter()
    stack_pids: list[int] = []
    if options.bring_stack_up:
        from infra.stack.local import LocalStack  # noqa: PLC0415

        stack_pids = LocalStack(settings).up().pids
    quiet_model_libraries()
    work = Workload(model=options.model, side=options.side, steps=options.steps)
    preload = list(dict.fromkeys([options.model, NULL_MODEL, SIM_MODEL]))
    engine_settings = settings.engine.model_copy(
        update={
            "device": options.device,
            "cpu_threads": options.cpu_threads,
            "cpu_cores": options.model_cores,
            "preload": preload,
            "max_loaded_models": max(settings.engine.max_loaded_models, len(preload)),
            **sim_engine_settings(),
        }
    )
    engine = InferenceEngine(engine_settings, home=settings.home)
    engine.load()
    import torch  # noqa: PLC0415  # loaded by the engine already

    report: dict[str, Any] = {
        "conditions": {
            **machine_conditions(),
            "device": str(engine.device),
            "dtype": str(engine.dtype).removeprefix("torch."),
            "torch_threads": torch.get_num_threads(),
            "model": work.model,
            "side": work.side,
            "steps": work.steps,
            "guidance_scale": work.guidance_scale,
            **asdict(options),
            "profile_dir": str(options.profile_dir) if options.profile_dir else None,
        }
    }
    try:
        _measure(settings, engine, work, options, report, stack_pids=stack_pids)
    finally:
        engine.close()
    report["duration_s"] = time.perf_counter() - began
    return report


def _real_model_figures(
    settings: Settings, engine: Any, work: Workload, options: BenchOptions
) -> tuple[dict[str, Any], list[LatencySample]]:
    """Efficiency at batch 1 and 8, and the added latency (batch 8): the real model's."""
    efficiency: dict[str, Any] = {}
    latency: list[LatencySample] = []
    for batch in BATCHES:
        images = options.images_batch1 if batch == 1 else options.images_batch8
        with Harness(
            settings,
            engine,
            label=f"b{batch}",
            processor={"max_batch_size": batch},
            profile_dir=options.profile_dir,
        ) as harness:
            bare, piped = compare(
                engine, harness, work, batch=batch, images=images, repeats=options.repeats
            )
            if batch == max(BATCHES):
                # Default processor settings (batch 8, 20 ms fill wait), one at a time.
                latency = added_latencies(harness, work, options.latency_requests)
        efficiency[f"batch{batch}"] = {
            "images_per_round": max(batch, images - images % batch),
            "bare_images_per_s": spread(bare).as_dict(),
            "pipeline_images_per_s": spread(piped).as_dict(),
            "ratio": spread([p / b for p, b in zip(piped, bare, strict=True)]).as_dict(),
        }
    return efficiency, latency


def _measure(
    settings: Settings,
    engine: Any,
    work: Workload,
    options: BenchOptions,
    out: dict[str, Any],
    *,
    stack_pids: list[int],
) -> None:
    with off_model_cores(options.model_cores, stack_pids):
        efficiency, latency = _real_model_figures(settings, engine, work, options)
    out["efficiency"] = efficiency
    out["ratio_batch1"] = efficiency["batch1"]["ratio"]["median"]
    out["ratio_batch8"] = efficiency["batch8"]["ratio"]["median"]
    gains = {
        kind: efficiency["batch8"][f"{kind}_images_per_s"]["median"]
        / efficiency["batch1"][f"{kind}_images_per_s"]["median"]
        for kind in ("pipeline", "bare")
    }
    out["batching_gain"] = gains
    out["batching_gain_ratio"] = gains["pipeline"] / gains["bare"]
    added = [sample.added_s for sample in latency]
    stages = [sample.stages() for sample in latency]
    out["added_latency_ms"] = {
        "requests": len(added),
        **{f"p{q}": 1000 * percentile(added, q / 100) for q in (50, 95, 99)},
        "end_to_end_p50": 1000 * percentile([s.end_to_end_s for s in latency], 0.5),
        "model_p50": 1000 * percentile([s.outcome.inference_s for s in latency], 0.5),
        "stages_p50": {
            stage: 1000 * percentile([s[stage] for s in stages], 0.5) for stage in stages[0]
        },
    }
    for q in (50, 95, 99):
        out[f"added_latency_p{q}_ms"] = out["added_latency_ms"][f"p{q}"]
    runs = [events_per_core(settings, options.control_plane_events) for _ in range(options.repeats)]
    # The bare codec alternates with the Kafka runs, so both see the same machine.
    codec = [codec_per_core(options.control_plane_events) for _ in range(options.repeats)]
    ratios = [run.per_core / bare for run, bare in zip(runs, codec, strict=True)]
    out["control_plane"] = {
        "events": options.control_plane_events,
        "events_per_core_s": spread([run.per_core for run in runs]).as_dict(),
        "events_per_wall_s": spread([run.wall for run in runs]).as_dict(),
        "cpu_s": [run.cpu_s for run in runs],
        "codec_events_per_core_s": spread(codec).as_dict(),
        "vs_codec_ratio": spread(ratios).as_dict(),
    }
    out["control_plane_events_per_s"] = out["control_plane"]["events_per_core_s"]["median"]
    out["control_plane_vs_codec_ratio"] = out["control_plane"]["vs_codec_ratio"]["median"]
    if options.replication:
        from infra.bench.replication import replication_cost  # noqa: PLC0415

        out["replication"] = replication_cost(
            settings, options.control_plane_events, options.repeats
        )
        out["replication_cost_ratio"] = out["replication"]["replication_cost_ratio"]
    if options.fleet:
        from infra.bench.fleet import (  # noqa: PLC0415
            FleetOptions,
            fleet_figures,
            fleet_log_dir,
            fleet_run,
        )

        fleet = FleetOptions(log_dir=fleet_log_dir(settings))
        out["fleet"] = fleet_run(settings, fleet, log.info)
        out.update(fleet_figures(out["fleet"]))
    with Harness(
        settings, engine, label="null", processor={}, profile_dir=options.profile_dir
    ) as harness:
        null_model_ceiling(harness, min(8, options.null_requests))  # warm
        ceilings = [
            null_model_ceiling(harness, options.null_requests, seed=1000 * (r + 1))
            for r in range(options.repeats)
        ]
        batch = harness.settings.processor.max_batch_size
    out["null_model"] = {
        "requests": options.null_requests,
        "processor_batch": batch,
        "requests_per_s": spread(ceilings).as_dict(),
    }
    out["null_model_requests_per_s"] = out["null_model"]["requests_per_s"]["median"]
    # The sim model (a simulated 25 img/s accelerator), pipelined and not; sim_max_img_s.
    out |= accelerator_figures(
        settings,
        engine,
        requests=options.sim_requests,
        repeats=options.repeats,
        rates=options.sim_rates,
        profile_dir=options.profile_dir,
    )
