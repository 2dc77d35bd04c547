"""``sim``: a built-in simulated accelerator, for measuring the pipeline around a fast GPU.

No GPU is lent to this project, yet the question that matters on one is whether the CPU
work around the model (encoding, Kafka, storage) keeps up with it. ``sim`` answers it: one
call of ``b`` images takes ``ms_per_image * b ** batch_alpha`` milliseconds (alpha < 1:
batching pays off, as on a GPU), spent in ``time.sleep``, which releases the GIL and uses
no CPU, as a thread waiting on a CUDA kernel does. Its images are procedural pictures
(``sim_pictures``) that cost what photographs cost to encode, ``PICTURES`` of them per size,
picked by seed and made once each, so a call spends no CPU on them after the first.

It takes the same call as a diffusers text-to-image pipeline, so the engine, the registry
and the processor run it unchanged. The time does not depend on the size or the steps:
set ``DIFFSTREAM_ENGINE__SIM_MS_PER_IMAGE`` for the workload being simulated.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from PIL import Image

from processors.engine.null_model import NullOutput, StandInPipeline
from processors.engine.sim_pictures import picture

SIM_MODEL = "sim"
# Distinct pictures per size; seeds cycle through them.
PICTURES = 8
# Calls kept for whoever measures the accelerator (the bench); older ones are dropped.
KEPT_CALLS = 4096


class SimCall(NamedTuple):
    """One simulated accelerator call: perf_counter at start and end, and its images."""

    started: float
    ended: float
    images: int
    compute_s: float  # the formula's time: what the accelerator was busy for


def batch_seconds(images: int, ms_per_image: float, batch_alpha: float) -> float:
    """Seconds a call of ``images`` images keeps the simulated accelerator busy."""
    return ms_per_image * images**batch_alpha / 1000 if images > 0 else 0.0


@dataclass
class SimPipeline(StandInPipeline):
    """A pipeline that waits as an accelerator would and returns procedural pictures."""

    ms_per_image: float = 40.0
    batch_alpha: float = 1.0
    # Accelerator seconds over every call since construction (the formula's, not the
    # sleeps' own, so a late wake-up of a busy CPU does not count as accelerator work).
    busy_s: float = 0.0
    calls: deque[SimCall] = field(default_factory=lambda: deque(maxlen=KEPT_CALLS))
    _pictures: dict[tuple[int, int, int], Image.Image] = field(default_factory=dict)

    def __call__(
        self,
        prompt: list[str],
        *,
        width: int = 512,
        height: int = 512,
        num_inference_steps: int = 1,
        negative_prompt: list[str] | None = None,
        num_images_per_prompt: int = 1,
        generator: Sequence[Any] | Any | None = None,
        callback_on_step_end: Callable[..., Any] | None = None,
        **_unused: Any,
    ) -> NullOutput:
        """One picture per prompt and image, after the batch's simulated compute time; the
        step callback runs after each step's share of it, as in a diffusers loop."""
        count = len(prompt) * num_images_per_prompt
        seeds = _seeds(generator, count)
        # Pictures first (cached after the first use of a slot): on a GPU the images
        # exist when the call returns, so making them must not eat into the wait.
        images = [self._picture(seed, width, height) for seed in seeds]
        steps = max(num_inference_steps, 1)
        self.num_timesteps = num_inference_steps
        compute_s = batch_seconds(count, self.ms_per_image, self.batch_alpha)
        started = time.perf_counter()
        for step in range(steps):
            # Sleep to a deadline rather than a fixed slice, so the total stays on the
            # formula however many steps (and callbacks) there are.
            remaining = started + compute_s * (step + 1) / steps - time.perf_counter()
            if remaining > 0:
                time.sleep(remaining)
            if callback_on_step_end is not None and step < num_inference_steps:
                callback_on_step_end(self, step, None, {})
        ended = time.perf_counter()
        self.busy_s += compute_s
        self.calls.append(SimCall(started, ended, count, compute_s))
        return NullOutput(images=images)

    def warm(self, width: int, height: int) -> None:
        """Make every picture of a size now, so that no later call spends CPU on them."""
        for slot in range(PICTURES):
            self._picture(slot, width, height)

    def _picture(self, seed: int, width: int, height: int) -> Image.Image:
        key = (seed % PICTURES, width, height)
        image = self._pictures.get(key)
        if image is None:
            image = self._pictures[key] = picture(key[0], width, height)
        return image


def _seeds(generator: Sequence[Any] | Any | None, count: int) -> list[int]:
    """Each image's seed from its torch.Generator (the engine passes one per image)."""
    if generator is None:
        return list(range(count))
    generators = list(generator) if isinstance(generator, Sequence) else [generator] * count
    return [int(g.initial_seed()) for g in generators]
