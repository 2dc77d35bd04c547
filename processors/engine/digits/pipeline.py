"""``DigitsPipeline``: a class-conditional pixel-space diffusion model of handwritten digits.

A diffusers ``DiffusionPipeline`` (a ``UNet2DModel`` with one class embedding per digit and
one "any digit" class for classifier-free guidance, and a DDIM scheduler), so it is saved,
loaded and called like any other diffusers pipeline. The prompt names the digit (see
``schemas.prompts``); the model draws at its native size and the image is resized to the
size asked for, dark ink on white paper.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from diffusers import DDIMScheduler, DiffusionPipeline, ImagePipelineOutput, UNet2DModel
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from schemas.prompts import DIGITS_ACCEPTS, digit_in_prompt

#: The class index of "any digit": what guidance steers away from.
UNCONDITIONAL_CLASS = 10
#: ``guidance_scale`` is read on Stable Diffusion's scale, where 7.5 is usual; this small
#: model draws best at 1.5 and falls apart above 3, so 7.5 maps to 1.5 and 1 stays 1.
DEFAULT_GUIDANCE_SCALE_FACTOR = (1.5 - 1.0) / (7.5 - 1.0)


class DigitsPipeline(DiffusionPipeline):  # type: ignore[misc]  # diffusers is untyped
    """Draws the digit each prompt names."""

    unet: UNet2DModel
    scheduler: DDIMScheduler

    def __init__(
        self,
        unet: UNet2DModel,
        scheduler: DDIMScheduler,
        guidance_scale_factor: float = DEFAULT_GUIDANCE_SCALE_FACTOR,
    ) -> None:
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler)
        self.register_to_config(guidance_scale_factor=guidance_scale_factor)
        # The engine reads the native side as sample_size * vae_scale_factor (no VAE here).
        self.vae_scale_factor = 1

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | Sequence[str],
        *,
        width: int | None = None,
        height: int | None = None,
        num_inference_steps: int = 20,
        guidance_scale: float = 7.5,
        num_images_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
        callback_on_step_end: Callable[..., Any] | None = None,
        **_unused: Any,
    ) -> ImagePipelineOutput:
        """One image per prompt (times ``num_images_per_prompt``); ``guidance_scale`` > 1
        turns on classifier-free guidance (on Stable Diffusion's scale, see
        ``DEFAULT_GUIDANCE_SCALE_FACTOR``), which costs a second forward pass per step."""
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        labels = [_digit(text) for text in prompts for _ in range(num_images_per_prompt)]
        side = self.unet.config.sample_size
        shape = (len(labels), self.unet.config.in_channels, side, side)
        device, dtype = self.unet.device, self.unet.dtype
        sample = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        classes = torch.tensor(labels, device=device)
        guided = guidance_scale > 1.0
        guidance = 1.0 + (guidance_scale - 1.0) * self.config.guidance_scale_factor
        if guided:
            classes = torch.cat([classes, torch.full_like(classes, UNCONDITIONAL_CLASS)])
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        self._num_timesteps = len(self.scheduler.timesteps)
        for step, timestep in enumerate(self.scheduler.timesteps):
            model_input = torch.cat([sample, sample]) if guided else sample
            noise = self.unet(model_input, timestep, class_labels=classes).sample
            if guided:
                conditional, unconditional = noise.chunk(2)
                noise = unconditional + guidance * (conditional - unconditional)
            sample = self.scheduler.step(noise, timestep, sample).prev_sample
            if callback_on_step_end is not None:
                callback_on_step_end(self, step, timestep, {})
        ink = (sample.clamp(-1, 1) + 1) / 2
        if output_type == "pt":
            return ImagePipelineOutput(images=ink)
        size = (width or side, height or side)
        return ImagePipelineOutput(images=[_to_image(plane, size) for plane in ink])

    @property
    def num_timesteps(self) -> int:
        """Denoising iterations of the last call (what the engine's progress reports)."""
        return int(getattr(self, "_num_timesteps", 0))


def _digit(prompt: str) -> int:
    digit = digit_in_prompt(prompt)
    if digit is None:
        # The validator refuses these before they reach a worker; this guards direct use.
        raise ValueError(f"prompt={prompt!r} is not something this model draws: {DIGITS_ACCEPTS}")
    return digit


def _to_image(ink: torch.Tensor, size: tuple[int, int]) -> Image.Image:
    """Dark ink on white paper, resized smoothly to the requested size."""
    paper = (255 * (1 - ink[0])).round().to(torch.uint8).cpu().numpy()
    return Image.fromarray(paper).resize(size, Image.Resampling.BICUBIC).convert("RGB")
