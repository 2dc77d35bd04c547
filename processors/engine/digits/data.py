"""scikit-learn's handwritten digits, as the model sees them and as a classifier sees them."""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image
from sklearn.datasets import load_digits
from torch.nn import functional

#: The dataset's grey levels run from 0 (paper) to 16 (ink).
INK_LEVELS = 16
SOURCE_SIDE = 8


def digits_dataset(side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 1, side, side) in [-1, 1], ink high, and their labels (N,)."""
    digits = load_digits()
    pixels = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / INK_LEVELS
    size = (side, side)
    upscaled = functional.interpolate(pixels, size=size, mode="bilinear", align_corners=False)
    return upscaled * 2 - 1, torch.tensor(digits.target, dtype=torch.long)


def classifier_features(image: Image.Image) -> NDArray[np.float64]:
    """An image drawn by the model (dark ink on white, any size) as one row of the
    dataset: 8x8 grey levels 0-16, ink high."""
    grey = image.convert("L").resize((SOURCE_SIDE, SOURCE_SIDE), Image.Resampling.BOX)
    ink = 1.0 - np.asarray(grey, dtype=np.float64) / 255.0
    return (ink * INK_LEVELS).reshape(-1)
