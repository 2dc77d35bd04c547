"""``null``: a built-in model that returns a fixed flat image with no torch compute.

It takes the same call as a diffusers text-to-image pipeline, so every other part of the
engine and the processor (batching, seeds, PNG encoding, results) runs unchanged. It
measures the pipeline around the model: ``diffstream bench`` uses it for the ceiling of
requests per second end to end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from PIL import Image

NULL_MODEL = "null"
# Mid grey: any flat colour would do; it compresses to a small PNG.
FILL = (128, 128, 128)


@dataclass(frozen=True, slots=True)
class NullOutput:
    """What a diffusers pipeline call returns, as far as the engine reads it."""

    images: list[Image.Image]


class NullScheduler:
    """Stands in for the pipeline's scheduler (named schedulers are built from its config)."""

    config: dict[str, Any] = {}  # noqa: RUF012  # read-only, like a FrozenDict


@dataclass
class StandInPipeline:
    """What the engine reads of a diffusers pipeline besides its call, for the built-in
    models that compute no diffusion (``null`` and ``sim``)."""

    scheduler: Any = field(default_factory=NullScheduler)
    num_timesteps: int = 0

    def to(self, _device: Any) -> Self:
        """Nothing to move."""
        return self

    def set_progress_bar_config(self, **_options: Any) -> None:
        """No progress bar to configure."""


@dataclass
class NullPipeline(StandInPipeline):
    """A pipeline whose every image is one cached flat image of the requested size."""

    _images: dict[tuple[int, int], Image.Image] = field(default_factory=dict)

    def __call__(
        self,
        prompt: list[str],
        *,
        width: int = 64,
        height: int = 64,
        num_inference_steps: int = 1,
        negative_prompt: list[str] | None = None,
        num_images_per_prompt: int = 1,
        callback_on_step_end: Callable[..., Any] | None = None,
        **_unused: Any,
    ) -> NullOutput:
        """``len(prompt) * num_images_per_prompt`` copies of the flat image (shared, not
        copied: the engine only reads them); the step callback runs once per step."""
        self.num_timesteps = num_inference_steps
        if callback_on_step_end is not None:
            for step in range(num_inference_steps):
                callback_on_step_end(self, step, None, {})
        image = self._images.get((width, height))
        if image is None:
            image = self._images[(width, height)] = Image.new("RGB", (width, height), FILL)
        return NullOutput(images=[image] * (len(prompt) * num_images_per_prompt))
