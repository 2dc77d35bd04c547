"""Reads a drawn digit back: a classifier trained on the same scikit-learn digits. Shadow
evaluation uses it to count how many of a revision's pictures show the digit asked for."""

from __future__ import annotations

from functools import cache

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.svm import SVC

#: The dataset's grey levels run from 0 (paper) to 16 (ink).
INK_LEVELS = 16
SOURCE_SIDE = 8


def classifier_features(image: Image.Image) -> NDArray[np.float64]:
    """An image drawn by the model (dark ink on white, any size) as one row of the
    dataset: 8x8 grey levels 0-16, ink high."""
    grey = image.convert("L").resize((SOURCE_SIDE, SOURCE_SIDE), Image.Resampling.BOX)
    ink = 1.0 - np.asarray(grey, dtype=np.float64) / 255.0
    return (ink * INK_LEVELS).reshape(-1)


@cache
def _classifier() -> SVC:
    digits = load_digits()
    # An RBF support-vector machine: about 99% on held-out digits of the same data.
    return SVC(gamma=0.001).fit(digits.data, digits.target)


def read_digit(image: Image.Image) -> int:
    """The digit the classifier sees in ``image`` (dark ink on white, any size)."""
    return int(_classifier().predict([classifier_features(image)])[0])
