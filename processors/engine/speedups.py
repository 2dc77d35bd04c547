"""Optional speed-ups applied to a freshly loaded pipeline, each behind a setting."""

from __future__ import annotations

import logging
from typing import Any

import torch

from processors.engine.settings import EngineSettings

logger = logging.getLogger(__name__)


def denoiser_of(pipeline: Any) -> Any:
    """The pipeline's denoising network: the UNet, or the transformer of DiT pipelines."""
    unet = getattr(pipeline, "unet", None)
    return unet if unet is not None else getattr(pipeline, "transformer", None)


def apply_speedups(pipeline: Any, settings: EngineSettings) -> list[str]:
    """Apply the enabled speed-ups to ``pipeline`` in place; returns the ones applied."""
    applied: list[str] = []
    denoiser = denoiser_of(pipeline)
    if not settings.sdpa and denoiser is not None and hasattr(denoiser, "set_attn_processor"):
        from diffusers.models.attention_processor import AttnProcessor  # noqa: PLC0415

        # diffusers already uses torch's scaled_dot_product_attention (AttnProcessor2_0) by
        # default; opting out restores the classic processor, for debugging only.
        denoiser.set_attn_processor(AttnProcessor())
        applied.append("classic-attention")
    if settings.channels_last:
        for name in ("unet", "vae"):
            module = getattr(pipeline, name, None)
            if isinstance(module, torch.nn.Module):
                module.to(memory_format=torch.channels_last)
        applied.append("channels_last")
    if settings.vae_tiling:
        vae = getattr(pipeline, "vae", None)
        if vae is not None and hasattr(vae, "enable_tiling"):
            vae.enable_tiling()
            applied.append("vae_tiling")
        else:
            logger.warning("vae_tiling is set but this pipeline's VAE cannot tile; ignored")
    if settings.torch_compile and isinstance(denoiser, torch.nn.Module):
        # In place (Module.compile), so the pipeline keeps its own module type. Default mode,
        # no CUDA graphs: micro-batches change the batch size from call to call, and CUDA
        # graphs would re-record for every new shape.
        denoiser.compile()
        applied.append("torch_compile")
    return applied
