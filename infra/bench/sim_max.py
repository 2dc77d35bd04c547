"""``sim_max_img_s``: the fastest simulated accelerator the pipeline keeps >= 95% busy.

The ``sim`` model is run at each of ``rates`` images/s in turn (one short saturating round
each, 512x512 PNG, through the real processor and image sink), then bisected between the
fastest rate that kept it busy and the slowest that did not. The figure is the fastest
passing rate; beside it, what limited the first failing one: the stage its accelerator's
gaps were spent in (``pipeline_stages``), and the per-batch times of model call, finishing
(encoding) and commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.bench.accelerator import BusyRun, busy_round, sim_pipeline
from infra.bench.harness import Harness

if TYPE_CHECKING:
    from processors.engine.engine import InferenceEngine

RATES = (25.0, 50.0, 100.0, 200.0)
TARGET = 0.95
# Accelerator seconds per round, within these request counts.
ROUND_S = 4.0
MIN_REQUESTS, MAX_REQUESTS = 64, 240
BISECTIONS = 2


def sim_max_img_s(
    harness: Harness,
    engine: InferenceEngine,
    rates: tuple[float, ...] = RATES,
    bisections: int = BISECTIONS,
    max_requests: int = MAX_REQUESTS,
) -> dict[str, Any]:
    """The highest rate of ``rates`` (then bisected) at which busy stays >= ``TARGET``;
    rounds of ``ROUND_S`` accelerator seconds, within ``MIN_REQUESTS`` and ``max_requests``."""
    pipe = sim_pipeline(engine)
    original = pipe.ms_per_image
    tried: list[dict[str, Any]] = []
    seeds = iter(range(100_000, 10_000_000, 1000))
    try:

        def measure(rate: float) -> bool:
            pipe.ms_per_image = 1000 / rate
            requests = min(max_requests, max(MIN_REQUESTS, int(rate * ROUND_S)))
            first = next(seeds)
            run = busy_round(harness, pipe, range(first, first + requests))
            tried.append(_tried(rate, run))
            return run.ratio >= TARGET

        passed: float | None = None
        failed: float | None = None
        for rate in sorted(rates):
            if not measure(rate):
                failed = rate
                break
            passed = rate
        if failed is not None:
            low = passed if passed is not None else 0.0
            for _ in range(bisections):
                middle = round((low + failed) / 2, 1)
                if measure(middle):
                    passed = low = middle
                else:
                    failed = middle
    finally:
        pipe.ms_per_image = original
    limiting = next((t for t in tried if t["images_per_s"] == failed), None)
    return {
        "sim_max_img_s": passed,
        "target_busy_ratio": TARGET,
        "first_failing_img_s": failed,
        "limit": limiting["stages"]["limit"] if limiting and limiting["stages"] else None,
        "limiting_round": limiting,
        "tried": tried,
    }


def _tried(rate: float, run: BusyRun) -> dict[str, Any]:
    return {
        "images_per_s": rate,
        "requests": run.requests,
        "busy_ratio": run.ratio,
        "pipeline_images_per_s": run.requests / run.end_to_end_s,
        "gap_ms_per_call": run.gap_ms_per_call,
        "images_per_call": run.images_per_call,
        "stages": run.stages,
    }
