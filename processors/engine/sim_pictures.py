"""Procedural pictures for the ``sim`` model that cost what photographs cost to encode.

A flat image compresses to almost nothing, so a benchmark with one would hide the CPU an
encoder spends on a real picture. These pictures sum smooth noise at scales from 256 px
down to 2 px with amplitudes falling with the scale (photographs have such a 1/f
spectrum), add a lighting gradient and a little pixel noise (sensor grain, fine texture).
At 512x512 their PNG, WebP and JPEG sizes and encode times are within the range of two
natural photographs (README, "Encoding costs"). Only numpy and Pillow: no torch.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Side in pixels of each noise octave, coarsest first.
OCTAVES = (256, 128, 64, 32, 16, 8, 4, 2)
# Amplitude of an octave grows as side**BETA: big structures dominate, as in photographs.
BETA = 0.9
# Standard deviation (in 8-bit levels) of the per-pixel grain; it sets how hard the
# picture is to compress (3 puts a 512x512 PNG at level 1 near 470 KB, as a photograph).
GRAIN = 3.0


def picture(seed: int, width: int, height: int) -> Image.Image:
    """An RGB picture of ``width`` x ``height``, the same for the same arguments."""
    rng = np.random.default_rng(seed)
    total = np.zeros((height, width, 3), np.float32)
    for side in OCTAVES:
        rows, columns = height // side + 2, width // side + 2
        # Channels share most of their structure (luminance), as colour pictures do.
        mix = np.eye(3, dtype=np.float32) + 0.3 * rng.standard_normal((3, 3), dtype=np.float32)
        grid = rng.standard_normal((rows, columns, 3), dtype=np.float32) @ mix
        octave = np.stack(
            [_upsample(grid[..., c], columns * side, rows * side) for c in range(3)], axis=-1
        )
        total += octave[:height, :width] * side**BETA
    total /= max(float(total.std()), 1e-6)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    light = np.cos(angle) * xs / width + np.sin(angle) * ys / height
    tint = rng.uniform(-1, 1, 3).astype(np.float32)
    pixels = 128 + 40 * total + 60 * light[..., None] * tint
    pixels += GRAIN * rng.standard_normal((height, width, 3), dtype=np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _upsample(channel: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bicubic upsampling of one float channel (Pillow's ``F`` mode keeps the precision)."""
    resized = Image.fromarray(channel, mode="F").resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(resized)
