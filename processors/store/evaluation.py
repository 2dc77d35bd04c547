"""The comparison of a shadow evaluation: a candidate revision and its baseline ran the same
replayed requests with the same seeds; per pair, how far apart the pictures are, and per
side, failures, inference time and (for ``digits``) how many pictures show the digit asked
for. Pure: no Kafka, no bucket."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from processors.store.evaluation_figures import Comparison, PairFigures, SideFigures

# SSIM as Wang et al. (2004) define it, with the usual constants and a 7x7 window.
SSIM_WINDOW = 7
SSIM_K1, SSIM_K2 = 0.01, 0.03
GREY_RANGE = 255.0

ReadDigit = Callable[[Image.Image], int]


@dataclass(frozen=True)
class Outcome:
    """How one replayed request ended on one revision."""

    request_id: str
    error_code: str | None = None  # None: it completed
    inference_s: float | None = None
    image: Image.Image | None = None


@dataclass(frozen=True)
class Pair:
    """One original request replayed on both revisions."""

    original_id: str
    prompt: str
    seed: int
    expected_digit: int | None  # the digit the prompt asks for (digits), else None
    baseline: Outcome
    candidate: Outcome


def grey(image: Image.Image, size: tuple[int, int] | None = None) -> NDArray[np.float64]:
    """``image`` as grey levels 0-255 (resized to ``size`` first, when given)."""
    picture = image.convert("L")
    if size is not None and picture.size != size:
        picture = picture.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(picture, dtype=np.float64)


def pixel_difference(a: Image.Image, b: Image.Image) -> float:
    """The mean absolute difference of the RGB values, 0 (identical) to 1."""
    left = np.asarray(a.convert("RGB"), dtype=np.float64)
    right = np.asarray(b.convert("RGB").resize(a.size), dtype=np.float64)
    return float(np.mean(np.abs(left - right)) / GREY_RANGE)


def ssim(a: Image.Image, b: Image.Image) -> float:
    """The mean structural similarity of the grey images (1: the same structure)."""
    from scipy.ndimage import uniform_filter  # noqa: PLC0415  # the inference extra

    x, y = grey(a), grey(b, a.size)
    window = min(SSIM_WINDOW, *x.shape)
    window -= 1 - window % 2  # an odd window that fits the image
    n = window * window
    covariance = n / (n - 1) if n > 1 else 1.0  # the sample covariance, as is usual
    mx, my = uniform_filter(x, window), uniform_filter(y, window)
    vx = covariance * (uniform_filter(x * x, window) - mx * mx)
    vy = covariance * (uniform_filter(y * y, window) - my * my)
    vxy = covariance * (uniform_filter(x * y, window) - mx * my)
    c1, c2 = (SSIM_K1 * GREY_RANGE) ** 2, (SSIM_K2 * GREY_RANGE) ** 2
    numerator = (2 * mx * my + c1) * (2 * vxy + c2)
    denominator = (mx * mx + my * my + c1) * (vx + vy + c2)
    pad = (window - 1) // 2  # the border, where the window hangs over the edge, left out
    ratio = numerator / denominator
    inner = ratio[pad : ratio.shape[0] - pad, pad : ratio.shape[1] - pad]
    return float(np.mean(inner if inner.size else ratio))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (linear), or None of nothing."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else None


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _digit(outcome: Outcome, read: ReadDigit | None) -> int | None:
    return None if read is None or outcome.image is None else read(outcome.image)


def _side(
    revision: str, outcomes: Sequence[Outcome], digits: Sequence[tuple[int | None, int | None]]
) -> SideFigures:
    failures = sum(o.error_code is not None for o in outcomes)
    times = [o.inference_s for o in outcomes if o.error_code is None and o.inference_s is not None]
    asked = [(want, got) for want, got in digits if want is not None]
    recognised = sum(want == got for want, got in asked) / len(asked) if asked else None
    return SideFigures(
        revision=revision,
        requests=len(outcomes),
        failures=failures,
        failure_share=failures / len(outcomes) if outcomes else 0.0,
        latency_p50_s=percentile(times, 50),
        latency_p95_s=percentile(times, 95),
        recognised_share=recognised,
    )


def compare(
    pairs: Sequence[Pair], baseline: str, candidate: str, read: ReadDigit | None = None
) -> Comparison:
    """The figures of ``pairs`` (baseline and candidate revisions named); ``read`` reads a
    digit back from a picture, for the pairs whose prompt asks for one (a failed request
    counts as not recognised)."""
    figures: list[PairFigures] = []
    for pair in pairs:
        a, b = pair.baseline.image, pair.candidate.image
        check = read if pair.expected_digit is not None else None
        figures.append(
            PairFigures(
                original_id=pair.original_id,
                prompt=pair.prompt,
                seed=pair.seed,
                baseline_request_id=pair.baseline.request_id,
                candidate_request_id=pair.candidate.request_id,
                baseline_error=pair.baseline.error_code,
                candidate_error=pair.candidate.error_code,
                pixel_difference=pixel_difference(a, b) if a and b else None,
                ssim=ssim(a, b) if a and b else None,
                expected_digit=pair.expected_digit,
                baseline_digit=_digit(pair.baseline, check),
                candidate_digit=_digit(pair.candidate, check),
            )
        )
    return Comparison(
        baseline=_side(
            baseline,
            [p.baseline for p in pairs],
            [(f.expected_digit, f.baseline_digit) for f in figures] if read else [],
        ),
        candidate=_side(
            candidate,
            [p.candidate for p in pairs],
            [(f.expected_digit, f.candidate_digit) for f in figures] if read else [],
        ),
        pixel_difference_mean=_mean(
            [f.pixel_difference for f in figures if f.pixel_difference is not None]
        ),
        ssim_mean=_mean([f.ssim for f in figures if f.ssim is not None]),
        pairs=tuple(figures),
    )
