"""What the engine hands back: encoded images per task, timings, and per-step progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from schemas.records import GeneratedImage


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskResult:
    """A task's images (GenerationResult's image records), in index order, and the time spent
    on them."""

    request_id: str
    model: str
    revision: str | None
    images: tuple[GeneratedImage, ...]
    # Wall seconds of the pipeline call(s) that produced this task's images. Tasks sharing
    # a call share its time; after an out-of-memory split, the calls holding its images.
    inference_s: float
    encode_s: float
    # This task's share of those calls: each call's seconds split by the images it made, so
    # the shares of a call's tasks add up to its time (what usage metering charges).
    accelerator_s: float
    # Images in the largest pipeline call that produced one of this task's images.
    batch_images: int


class StepProgress(NamedTuple):
    """A denoising step has finished for every image of a pipeline call."""

    step: int  # 1-based
    # Iterations of the denoising loop: the task's steps, or more where the scheduler adds
    # some (PNDM: one more; heun and dpm2: about twice as many).
    steps: int
    request_ids: tuple[str, ...]
    images: int


# Called on the inference thread after every step. Raising aborts the call: the exception
# reaches the caller of ``generate`` unchanged (unless it is an out-of-memory error).
ProgressCallback = Callable[[StepProgress], None]
