"""Efficiency: images/s of the whole pipeline against a bare diffusers loop, same model.

The bare loop calls the very pipeline object the engine loaded (from the engine's model
registry), ``pipe(prompt=[...] * n, ...)`` with one seeded generator per image, as a user
would without diffstream. The pipeline figure runs from the first publish to the last
completed event, with the processor and the image sink running. Bare and pipeline rounds
alternate, so drift in the machine's load hits both alike.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra.bench.harness import Harness

if TYPE_CHECKING:
    from processors.engine.engine import InferenceEngine

log = logging.getLogger(__name__)

PROMPT = "a lighthouse on a cliff at dusk, oil painting"


@dataclass(frozen=True, slots=True)
class Workload:
    """Model, size and steps shared by the bare loop and the pipeline."""

    model: str = "tiny-sd"
    side: int = 64
    steps: int = 10
    guidance_scale: float = 7.5

    def request(self, seed: int, prompt: str = PROMPT) -> dict[str, Any]:
        """Publisher keyword arguments of one one-image request."""
        return {
            "prompt": prompt,
            "model": self.model,
            "width": self.side,
            "height": self.side,
            "steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "seed": seed,
        }


def bare_images_per_s(engine: InferenceEngine, work: Workload, batch: int, images: int) -> float:
    """Images/s of back-to-back pipeline calls of ``batch`` images on the loaded model."""
    import torch  # noqa: PLC0415  # only where a model runs

    pipe = engine.registry.get(work.model).pipeline
    calls = max(1, images // batch)
    started = time.perf_counter()
    with engine.on_model_cores():  # where the engine's own model calls run (cpu_cores)
        for call in range(calls):
            pipe(
                prompt=[PROMPT] * batch,
                num_inference_steps=work.steps,
                height=work.side,
                width=work.side,
                guidance_scale=work.guidance_scale,
                generator=[
                    torch.Generator("cpu").manual_seed(call * batch + i) for i in range(batch)
                ],
            )
    return calls * batch / (time.perf_counter() - started)


def pipeline_images_per_s(harness: Harness, work: Workload, images: int, seed: int = 0) -> float:
    """Images/s from publishing ``images`` one-image requests at once to the last completed."""
    started, ended, _ = harness.round([work.request(seed + i) for i in range(images)])
    return images / (ended - started)


def compare(
    engine: InferenceEngine,
    harness: Harness,
    work: Workload,
    *,
    batch: int,
    images: int,
    repeats: int,
) -> tuple[list[float], list[float]]:
    """``repeats`` alternating rounds: (bare images/s, pipeline images/s), one per round."""
    images = max(batch, images - images % batch)
    harness.round([work.request(i) for i in range(batch)])  # group joined, paths warm
    bare_images_per_s(engine, work, batch, batch)
    bare: list[float] = []
    piped: list[float] = []
    for repeat in range(repeats):
        bare.append(bare_images_per_s(engine, work, batch, images))
        piped.append(pipeline_images_per_s(harness, work, images, seed=1000 * (repeat + 1)))
        log.info(
            "batch %d round %d: bare %.2f img/s, pipeline %.2f img/s",
            batch,
            repeat + 1,
            bare[-1],
            piped[-1],
        )
    return bare, piped
