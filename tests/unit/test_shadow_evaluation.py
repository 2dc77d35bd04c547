"""The figures of a shadow evaluation (pixel and structural difference, percentiles, the
recognised share read back by the digits classifier) and the pass rule that judges them."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the digits classifier needs the inference extra")

from PIL import Image
from sklearn.datasets import load_digits

from diffstream.evaluation_settings import EvaluationRule
from diffstream.settings import Settings
from processors.engine.digits.reading import read_digit
from processors.store.evaluation import (
    Outcome,
    Pair,
    compare,
    percentile,
    pixel_difference,
    ssim,
)
from processors.store.evaluation_figures import Comparison, SideFigures
from processors.store.evaluation_rule import failing, judge


def _drawn(index: int) -> tuple[Image.Image, int]:
    """One of scikit-learn's digits as the model draws them: dark ink on white, 64x64."""
    digits = load_digits()
    ink = digits.images[index] / 16.0
    grey = (255 * (1 - ink)).astype(np.uint8)
    return Image.fromarray(grey).resize((64, 64), Image.Resampling.BILINEAR), int(
        digits.target[index]
    )


# The first digits of the dataset that the classifier reads back as drawn (it misreads a few).
READABLE = [i for i in range(40) if read_digit(_drawn(i)[0]) == _drawn(i)[1]][:10]


def _noisy(image: Image.Image, amount: float, seed: int = 0) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float64)
    noise = np.random.default_rng(seed).normal(0, 255 * amount, pixels.shape)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


def test_the_same_picture_is_no_difference_at_all() -> None:
    image, _ = _drawn(0)
    assert pixel_difference(image, image) == 0.0
    assert ssim(image, image) == pytest.approx(1.0)


def test_white_against_black_is_the_largest_difference() -> None:
    white = Image.new("L", (32, 32), 255)
    black = Image.new("L", (32, 32), 0)
    assert pixel_difference(white, black) == pytest.approx(1.0)
    assert ssim(white, black) == pytest.approx(0.0, abs=1e-3)


def test_ssim_falls_as_noise_grows_and_is_symmetric() -> None:
    image, _ = _drawn(3)
    figures = [ssim(image, _noisy(image, amount)) for amount in (0.02, 0.1, 0.3)]
    assert 1.0 > figures[0] > figures[1] > figures[2] > 0.0
    other, _ = _drawn(4)
    assert ssim(image, other) == pytest.approx(ssim(other, image))
    assert ssim(image, other) < ssim(image, _noisy(image, 0.02))


def test_percentiles_are_linear_and_none_of_nothing() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile([], 95) is None


def _pair(index: int, candidate: Outcome, *, asked: int | None = None) -> Pair:
    image, digit = _drawn(READABLE[index])
    return Pair(
        original_id=f"r{index}",
        prompt=str(digit),
        seed=index,
        expected_digit=digit if asked is None else asked,
        baseline=Outcome(f"b{index}", inference_s=0.1 + index / 100, image=image),
        candidate=candidate,
    )


def test_compare_counts_failures_latency_and_the_recognised_share() -> None:
    drawn = [_drawn(i)[0] for i in READABLE]
    good = [_pair(i, Outcome(f"c{i}", inference_s=0.2, image=drawn[i])) for i in range(6)]
    # The candidate draws another digit for two prompts and fails one request.
    wrong = [_pair(i, Outcome(f"c{i}", inference_s=0.2, image=drawn[i + 1])) for i in (6, 7)]
    failed = [_pair(8, Outcome("c8", error_code="inference_error"))]
    comparison = compare(good + wrong + failed, "base", "cand", read_digit)

    assert comparison.baseline.recognised_share == pytest.approx(1.0)
    assert comparison.candidate.recognised_share == pytest.approx(6 / 9)
    assert (comparison.candidate.failures, comparison.candidate.requests) == (1, 9)
    assert comparison.baseline.failures == 0
    assert comparison.candidate.latency_p95_s == pytest.approx(0.2)
    assert comparison.baseline.latency_p50_s == pytest.approx(0.14)
    assert comparison.candidate.failure_share == pytest.approx(1 / 9)
    same = comparison.pairs[0]
    assert same.pixel_difference == 0.0
    assert same.ssim == pytest.approx(1.0)
    assert comparison.pairs[6].ssim is not None
    assert comparison.pairs[6].ssim < 0.9
    assert comparison.pairs[8].pixel_difference is None
    assert comparison.pairs[8].candidate_error == "inference_error"


def test_without_a_reader_nothing_is_read_back() -> None:
    pairs = [_pair(i, Outcome(f"c{i}", inference_s=0.2, image=_drawn(i)[0])) for i in range(2)]
    comparison = compare(pairs, "base", "cand")
    assert comparison.candidate.recognised_share is None
    assert comparison.pairs[0].candidate_digit is None


def _sides(*, failures: int = 0, recognised: float = 0.9, p95: float = 0.2) -> Comparison:
    def side(revision: str, failed: int, share: float, latency: float) -> SideFigures:
        return SideFigures(
            revision=revision,
            requests=20,
            failures=failed,
            failure_share=failed / 20,
            latency_p50_s=latency / 2,
            latency_p95_s=latency,
            recognised_share=share,
        )

    return Comparison(
        baseline=side("base", 0, 0.9, 0.2),
        candidate=side("cand", failures, recognised, p95),
        pixel_difference_mean=0.1,
        ssim_mean=0.8,
        pairs=(),
    )


RULE = EvaluationRule(min_pairs=1)


def test_a_candidate_as_good_as_the_baseline_passes() -> None:
    comparison = _sides().model_copy(update={"pairs": _pairs_of(20)})
    checks = judge(comparison, RULE)
    assert [c.rule for c in checks] == [
        "min_pairs",
        "max_failure_share",
        "min_recognised_ratio",
        "max_latency_ratio",
    ]
    assert failing(checks) == []


def _pairs_of(n: int) -> tuple:  # type: ignore[type-arg]
    comparison = compare(
        [_pair(0, Outcome("c", inference_s=0.1, image=_drawn(0)[0]))] * n, "base", "cand"
    )
    return comparison.pairs


@pytest.mark.parametrize(
    ("figures", "rule", "figure", "limit"),
    [
        ({"failures": 2}, "max_failure_share", 0.1, 0.02),
        ({"recognised": 0.3}, "min_recognised_ratio", 0.3 / 0.9, 0.9),
        ({"p95": 0.5}, "max_latency_ratio", 2.5, 1.5),
    ],
)
def test_each_limit_fails_a_candidate_past_it(
    figures: dict[str, float], rule: str, figure: float, limit: float
) -> None:
    comparison = _sides(**figures).model_copy(update={"pairs": _pairs_of(20)})  # type: ignore[arg-type]
    [failed] = failing(judge(comparison, RULE))
    assert failed.rule == rule
    assert failed.figure == pytest.approx(figure)
    assert failed.limit == pytest.approx(limit)
    assert failed.setting == f"DIFFSTREAM_MODELS__EVALUATION__{rule.upper()}"


def test_too_few_pairs_fail_and_zero_turns_a_ratio_off() -> None:
    comparison = _sides(recognised=0.1, p95=9.0)
    off = EvaluationRule(min_pairs=5, min_recognised_ratio=0, max_latency_ratio=0)
    assert [c.rule for c in failing(judge(comparison, off))] == ["min_pairs"]


def test_the_rule_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIFFSTREAM_MODELS__EVALUATION__MIN_RECOGNISED_RATIO", "0.5")
    monkeypatch.setenv("DIFFSTREAM_MODELS__EVALUATION__GUARDED_ALIASES", '["prod", "canary"]')
    rule = Settings().models.evaluation
    assert rule.min_recognised_ratio == 0.5
    assert rule.guarded_aliases == ("prod", "canary")
    comparison = _sides(recognised=0.5).model_copy(update={"pairs": _pairs_of(3)})
    assert failing(judge(comparison, rule)) == []
