"""``accelerator_busy_ratio``: how much of the time a fast accelerator is kept computing.

The engine runs the ``sim`` model (a simulated accelerator: ``ms_per_image`` of GIL-free
sleep per image, alpha 1, so its rate is ``1000 / ms_per_image`` images/s whatever batch
the processor forms) under a saturating backlog of 512x512 PNG requests, through the real
processor and image sink on the bench's stack. The ratio is the accelerator's compute
time over the wall time from the start of its first call to the end of its last: while a
backlog waits, every gap between calls is CPU work the accelerator waited for (encoding,
the result produce, the transaction commit, the next poll). The end-to-end ratio (first
publish to last completed event) is reported beside it; it also counts the ramp-up and the
last batch's storage, which a longer backlog amortises.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra.bench.efficiency import Workload
from infra.bench.harness import Harness
from infra.bench.pipeline_stages import stage_split
from infra.bench.stats import spread

if TYPE_CHECKING:
    from processors.engine.engine import InferenceEngine

SIM_SIDE = 512
SIM_STEPS = 20
SIM_RATE = 25.0  # images/s of the simulated accelerator
WORK = Workload(model="sim", side=SIM_SIDE, steps=SIM_STEPS)


@dataclass(frozen=True, slots=True)
class BusyRun:
    """One saturating round: accelerator seconds, the window of its calls, end to end."""

    requests: int
    busy_s: float
    window_s: float
    end_to_end_s: float
    calls: int
    images_per_call: float
    # Where the gaps went (``pipeline_stages``); None when the processor is not pipelined.
    stages: dict[str, Any] | None = None

    @property
    def ratio(self) -> float:
        """Accelerator time over the span of its calls."""
        return self.busy_s / self.window_s

    @property
    def gap_ms_per_call(self) -> float:
        """Mean wall milliseconds between one call's end and the next call's start."""
        return 1000 * (self.window_s - self.busy_s) / max(self.calls - 1, 1)


def sim_engine_settings(rate: float = SIM_RATE) -> dict[str, Any]:
    """Engine settings for a ``sim`` model of ``rate`` images/s whatever the batch."""
    return {"sim_ms_per_image": 1000 / rate, "sim_batch_alpha": 1.0}


def sim_pipeline(engine: InferenceEngine) -> Any:
    """The engine's loaded ``sim`` pipeline, every 512x512 picture made already."""
    from processors.engine.sim_model import SIM_MODEL, SimPipeline  # noqa: PLC0415

    pipe = engine.registry.get(SIM_MODEL).pipeline
    if not isinstance(pipe, SimPipeline):  # pragma: no cover  # the registry's own built-in
        raise TypeError(f"{SIM_MODEL} resolved to {type(pipe).__name__}")
    pipe.warm(SIM_SIDE, SIM_SIDE)  # every picture made before anything is timed
    return pipe


def accelerator_busy(
    harness: Harness,
    engine: InferenceEngine,
    requests: int,
    repeats: int,
    rate: float = SIM_RATE,
) -> dict[str, Any]:
    """``repeats`` rounds of ``requests`` sim requests published at once on ``harness``
    (whose processor runs ``engine``, with the ``sim`` model among its models), the
    simulated accelerator drawing ``rate`` images/s."""
    pipe = sim_pipeline(engine)
    pipe.ms_per_image = 1000 / rate
    warm(harness)
    runs = [
        busy_round(harness, pipe, range(1000 * (r + 1), 1000 * (r + 1) + requests))
        for r in range(repeats)
    ]
    return busy_figures(harness, engine, runs)


def warm(harness: Harness) -> None:
    """One small round: the processor joined, the model and the encoder warm."""
    harness.round([WORK.request(seed) for seed in range(8)])


def busy_figures(harness: Harness, engine: InferenceEngine, runs: list[BusyRun]) -> dict[str, Any]:
    """The figures of ``runs`` (rounds of ``harness`` on ``engine``'s sim model)."""
    pipe = sim_pipeline(engine)
    median = sorted(runs, key=lambda run: run.ratio)[len(runs) // 2]
    return {
        "requests": median.requests,
        "sim_images_per_s": 1000 / pipe.ms_per_image,
        "sim_ms_per_image": pipe.ms_per_image,
        "sim_batch_alpha": pipe.batch_alpha,
        "side": SIM_SIDE,
        "output_format": "png",
        "png_compress_level": engine.settings.png_compress_level,
        "encode_threads": engine.settings.encode_threads,
        "processor_batch": harness.settings.processor.max_batch_size,
        "pipeline_depth": harness.processor.pipeline_depth,
        "busy_ratio": spread([run.ratio for run in runs]).as_dict(),
        "end_to_end_busy_ratio": spread([run.busy_s / run.end_to_end_s for run in runs]).as_dict(),
        "pipeline_images_per_s": spread(
            [run.requests / run.end_to_end_s for run in runs]
        ).as_dict(),
        "gap_ms_per_call": spread([run.gap_ms_per_call for run in runs]).as_dict(),
        "images_per_call": statistics.median(run.images_per_call for run in runs),
        "stages": median.stages,
    }


def busy_round(harness: Harness, pipe: Any, seeds: range) -> BusyRun:
    """One round of ``len(seeds)`` requests published at once, measured."""
    started, ended, _ = harness.round([WORK.request(seed) for seed in seeds])
    calls = [call for call in pipe.calls if call.started >= started]
    pipeline = getattr(harness.processor.loop, "pipeline", None)
    stages = None
    if pipeline is not None:
        stages = stage_split(list(pipeline.events), calls, started, calls[-1].ended)
    return BusyRun(
        requests=len(seeds),
        busy_s=sum(call.compute_s for call in calls),
        window_s=calls[-1].ended - calls[0].started,
        end_to_end_s=ended - started,
        calls=len(calls),
        images_per_call=sum(call.images for call in calls) / len(calls),
        stages=stages,
    )
