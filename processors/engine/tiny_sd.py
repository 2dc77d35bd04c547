"""``tiny-sd``: a seeded, randomly initialised Stable Diffusion pipeline in diffusers format.

It is built once into ``models_dir/tiny-sd`` and then loaded with ``from_pretrained`` like
any downloaded model, so tests and demos exercise the real loading and text-to-image code
on a CPU in a fraction of a second. Its images are noise-like: the weights are random.

The build is deterministic (fixed seed, fixed configs), so every machine builds the same
weights and the same request gives the same image everywhere the kernels agree.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

TINY_SD = "tiny-sd"
# Bump when the recipe changes, so that stale builds are rebuilt.
RECIPE_VERSION = 1
MARKER_FILE = "diffstream-tiny-sd.json"
BUILD_SEED = 0
# 77 tokens, like every CLIP text encoder of Stable Diffusion.
MAX_TOKENS = 77
START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"


def ensure_tiny_sd(models_dir: Path) -> Path:
    """The tiny-sd directory under ``models_dir``, built first if missing or stale."""
    target = models_dir / TINY_SD
    if _is_current(target):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename into place: a reader never sees half a model, and
    # two processes building at once both end with one complete copy.
    staging = Path(tempfile.mkdtemp(prefix=f".{TINY_SD}-", dir=models_dir))
    try:
        build_tiny_sd(staging)
        if target.exists() and not _is_current(target):
            logger.info("replacing stale %s at %s", TINY_SD, target)
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(staging, target)
        except OSError:
            if not _is_current(target):
                raise
            logger.debug("another process built %s first", TINY_SD)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def build_tiny_sd(directory: Path) -> None:
    """Save a freshly built tiny-sd pipeline into ``directory``."""
    from diffusers import StableDiffusionPipeline  # noqa: PLC0415  # heavy; only on a build

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(directory / ".tokenizer-src")
    # fork_rng keeps the build from moving the process's global RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(BUILD_SEED)
        unet = _unet()
        vae = _vae()
        text_encoder = _text_encoder(tokenizer)
    pipeline: Any = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(directory, safe_serialization=True)
    shutil.rmtree(directory / ".tokenizer-src", ignore_errors=True)
    marker = {"model": TINY_SD, "recipe": RECIPE_VERSION, "seed": BUILD_SEED}
    (directory / MARKER_FILE).write_text(json.dumps(marker, sort_keys=True) + "\n")
    logger.info("built %s in %s", TINY_SD, directory)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's map of the 256 byte values to printable characters."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("\N{INVERTED EXCLAMATION MARK}"), ord("\N{NOT SIGN}") + 1),
        *range(ord("\N{REGISTERED SIGN}"), ord("\N{LATIN SMALL LETTER Y WITH DIAERESIS}") + 1),
    ]
    codes = list(printable)
    shift = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + shift)
            shift += 1
    return {byte: chr(code) for byte, code in zip(printable, codes, strict=True)}


def byte_level_vocab() -> dict[str, int]:
    """A CLIP BPE vocabulary with no merges: every byte, alone and as a word end."""
    characters = list(bytes_to_unicode().values())
    tokens = [*characters, *(f"{char}</w>" for char in characters), START_TOKEN, END_TOKEN]
    return {token: index for index, token in enumerate(tokens)}


def _is_current(directory: Path) -> bool:
    try:
        marker = json.loads((directory / MARKER_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(marker, dict)
        and marker.get("recipe") == RECIPE_VERSION
        and (directory / "model_index.json").is_file()
    )


def _tokenizer(source: Path) -> Any:
    from transformers import CLIPTokenizer  # noqa: PLC0415  # heavy; only on a build

    source.mkdir(parents=True, exist_ok=True)
    (source / "vocab.json").write_text(json.dumps(byte_level_vocab(), ensure_ascii=False))
    # The first line of merges.txt is a version header that CLIP's loader skips.
    (source / "merges.txt").write_text("#version: 0.2\n")
    # Loading from files (rather than the constructor) works with transformers 4 and 5 alike.
    return CLIPTokenizer.from_pretrained(source, model_max_length=MAX_TOKENS)


def _unet() -> Any:
    from diffusers import UNet2DConditionModel  # noqa: PLC0415  # heavy; only on a build

    return UNet2DConditionModel(
        sample_size=8,  # 8x8 latents: 64x64 images by default
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=(2, 4),
    )


def _vae() -> Any:
    from diffusers import AutoencoderKL  # noqa: PLC0415  # heavy; only on a build

    # Four blocks give the factor-8 downsampling of real SD VAEs (pipe.vae_scale_factor == 8),
    # so sizes, latents and check_inputs behave as with a real model.
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(16, 32, 32, 32),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
    )


def _text_encoder(tokenizer: Any) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel  # noqa: PLC0415  # heavy

    vocab = tokenizer.get_vocab()
    config = CLIPTextConfig(
        vocab_size=len(vocab),
        bos_token_id=vocab[START_TOKEN],
        eos_token_id=vocab[END_TOKEN],
        pad_token_id=vocab[END_TOKEN],
        hidden_size=32,
        intermediate_size=37,
        projection_dim=32,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=MAX_TOKENS,
    )
    return CLIPTextModel(config)


def _scheduler() -> Any:
    from diffusers import PNDMScheduler  # noqa: PLC0415  # heavy; only on a build

    # Stable Diffusion 1.5's own scheduler config.
    return PNDMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        skip_prk_steps=True,
        set_alpha_to_one=False,
        steps_offset=1,
    )
