"""scikit-learn's handwritten digits as the model sees them (``reading``: as a classifier)."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits
from torch.nn import functional

from processors.engine.digits.reading import INK_LEVELS


def digits_dataset(side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 1, side, side) in [-1, 1], ink high, and their labels (N,)."""
    digits = load_digits()
    pixels = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / INK_LEVELS
    size = (side, side)
    upscaled = functional.interpolate(pixels, size=size, mode="bilinear", align_corners=False)
    return upscaled * 2 - 1, torch.tensor(digits.target, dtype=torch.long)
