"""The simulated accelerator's figures: busy ratio with and without pipelining, measured in
one run with their rounds alternated (a shared machine's load falls on both alike), then
``sim_max_img_s`` on the pipelined processor. ``diffstream bench accelerator`` runs only
these; ``diffstream bench`` runs them after its other figures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diffstream.settings import Settings
from infra.bench.accelerator import (
    SIM_RATE,
    BusyRun,
    busy_figures,
    busy_round,
    sim_pipeline,
    warm,
)
from infra.bench.harness import Harness
from infra.bench.sim_max import RATES, sim_max_img_s

if TYPE_CHECKING:
    from processors.engine.engine import InferenceEngine

DEPTHS = (1, 2)


def accelerator_figures(
    settings: Settings,
    engine: InferenceEngine,
    *,
    requests: int,
    repeats: int,
    rates: tuple[float, ...] = RATES,
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    """``accelerator`` (pipelined, the default), ``accelerator_depth1`` (the loop before),
    their ratio, and ``sim_max``; the engine must have the ``sim`` model loaded."""
    harnesses = {
        depth: Harness(
            settings,
            engine,
            label=f"sim{depth}",
            processor={"pipeline_depth": depth},
            profile_dir=profile_dir,
        )
        for depth in DEPTHS
    }
    out: dict[str, Any] = {}
    with harnesses[1] as one, harnesses[2] as two:
        pipe = sim_pipeline(engine)
        pipe.ms_per_image = 1000 / SIM_RATE
        pairs = ((1, one), (2, two))
        runs: dict[int, list[BusyRun]] = {depth: [] for depth in DEPTHS}
        for _, harness in pairs:
            warm(harness)
        for r in range(repeats):  # alternated: load from elsewhere falls on both alike
            for depth, harness in pairs:
                first = 100_000 * depth + 1000 * r
                runs[depth].append(busy_round(harness, pipe, range(first, first + requests)))
        out["accelerator"] = busy_figures(two, engine, runs[2])
        out["accelerator_depth1"] = busy_figures(one, engine, runs[1])
        began = time.perf_counter()
        out["sim_max"] = sim_max_img_s(two, engine, rates, max_requests=max(requests, 8))
        out["sim_max"]["duration_s"] = time.perf_counter() - began
    out["accelerator_busy_ratio"] = out["accelerator"]["busy_ratio"]["median"]
    out["accelerator_busy_ratio_depth1"] = out["accelerator_depth1"]["busy_ratio"]["median"]
    out["pipelining_gain"] = out["accelerator_busy_ratio"] / out["accelerator_busy_ratio_depth1"]
    out["sim_max_img_s"] = out["sim_max"]["sim_max_img_s"]
    return out


def run_accelerator_bench(
    settings: Settings,
    *,
    requests: int,
    repeats: int,
    rates: tuple[float, ...] = RATES,
    bring_stack_up: bool = True,
) -> dict[str, Any]:
    """The stack up, an engine with only the sim model, then ``accelerator_figures``."""
    from infra.bench.accelerator import sim_engine_settings  # noqa: PLC0415
    from infra.bench.conditions import machine_conditions  # noqa: PLC0415
    from processors.engine.engine import InferenceEngine  # noqa: PLC0415  # brings torch
    from processors.engine.sim_model import SIM_MODEL  # noqa: PLC0415

    began = time.perf_counter()
    if bring_stack_up:
        from infra.stack.local import LocalStack  # noqa: PLC0415

        LocalStack(settings).up()
    engine_settings = settings.engine.model_copy(
        update={"device": "cpu", "preload": (SIM_MODEL,), **sim_engine_settings()}
    )
    engine = InferenceEngine(engine_settings, home=settings.home)
    engine.load()
    report: dict[str, Any] = {
        "conditions": {**machine_conditions(), "requests": requests, "repeats": repeats}
    }
    try:
        report |= accelerator_figures(
            settings, engine, requests=requests, repeats=repeats, rates=rates
        )
    finally:
        engine.close()
    report["duration_s"] = time.perf_counter() - began
    return report
