"""Images as the model drew them, before encoding: the hand-off between the model call and
the encoder, so that encoding one batch can overlap the model's call on the next.

``encode_drawn`` turns them into ``TaskResult``s, on a pool of threads when given one:
Pillow's PNG, WebP and JPEG encoders release the GIL while they compress.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from PIL import Image

from processors.engine.encoding import (
    CONTENT_TYPES,
    a1111_parameters,
    diffstream_metadata,
    encode_image,
)
from processors.engine.results import TaskResult
from processors.engine.settings import EngineSettings
from processors.engine.tasks import GenerationTask
from schemas.builders import generated_image
from schemas.records import GeneratedImage


@dataclass(frozen=True, slots=True)
class DrawnImage:
    """One image of a task as the pipeline returned it."""

    index: int
    seed: int
    image: Image.Image


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawnTask:
    """A task's images, not encoded yet, and the model time spent on them (as TaskResult)."""

    task: GenerationTask
    images: tuple[DrawnImage, ...]
    sampler: str
    inference_s: float
    accelerator_s: float
    batch_images: int


def encode_drawn(
    drawn: Sequence[DrawnTask], settings: EngineSettings, pool: Executor | None = None
) -> list[TaskResult]:
    """One ``TaskResult`` per drawn task, in order; every image encoded (on ``pool``)."""
    jobs = [(task, image) for task in drawn for image in task.images]
    if pool is not None and len(jobs) > 1:
        encoded = list(pool.map(lambda job: _timed(settings, *job), jobs))
    else:
        encoded = [_timed(settings, task, image) for task, image in jobs]
    results: list[TaskResult] = []
    position = 0
    for task in drawn:
        mine = encoded[position : position + len(task.images)]
        position += len(task.images)
        results.append(
            TaskResult(
                request_id=task.task.request_id,
                model=task.task.model,
                revision=task.task.revision,
                images=tuple(sorted((image for image, _ in mine), key=lambda i: i["index"])),
                inference_s=task.inference_s,
                encode_s=sum(seconds for _, seconds in mine),
                accelerator_s=task.accelerator_s,
                batch_images=task.batch_images,
            )
        )
    return results


def _timed(
    settings: EngineSettings, drawn: DrawnTask, image: DrawnImage
) -> tuple[GeneratedImage, float]:
    started = time.perf_counter()
    encoded = encode_one(settings, drawn.task, image, drawn.sampler)
    return encoded, time.perf_counter() - started


def encode_one(
    settings: EngineSettings, task: GenerationTask, drawn: DrawnImage, sampler: str
) -> GeneratedImage:
    """One image in the task's format, its generation parameters embedded."""
    image = drawn.image
    data = encode_image(
        image,
        task.output_format,
        parameters=a1111_parameters(task, seed=drawn.seed, sampler=sampler),
        metadata=diffstream_metadata(task, seed=drawn.seed, index=drawn.index, sampler=sampler),
        settings=settings,
    )
    return generated_image(
        index=drawn.index,
        data=data,
        content_type=CONTENT_TYPES[task.output_format],
        width=image.width,
        height=image.height,
        seed=drawn.seed,
    )
