"""The pass rule of a shadow evaluation: each limit of the settings' ``EvaluationRule``
checked against a comparison's figures. Recorded figures are judged again by the rule in
force when an alias moves, so a stricter rule applies to evaluations made before it."""

from __future__ import annotations

from diffstream.evaluation_settings import EvaluationRule
from processors.store.evaluation_figures import Check, Comparison


def judge(comparison: Comparison, rule: EvaluationRule) -> list[Check]:
    """Every check of ``rule`` that applies to ``comparison`` (a check without figures on
    both sides, or turned off with 0, is left out)."""
    base, cand = comparison.baseline, comparison.candidate
    pairs = len(comparison.pairs)
    checks = [
        Check(
            rule="min_pairs",
            figure=pairs,
            limit=rule.min_pairs,
            passed=pairs >= rule.min_pairs,
            text=f"{pairs} pairs replayed (at least {rule.min_pairs})",
        ),
        Check(
            rule="max_failure_share",
            figure=cand.failure_share,
            limit=rule.max_failure_share,
            passed=cand.failure_share <= rule.max_failure_share,
            text=f"{cand.failures} of {cand.requests} requests failed "
            f"({cand.failure_share:.1%}; at most {rule.max_failure_share:.1%})",
        ),
    ]
    shares = (base.recognised_share, cand.recognised_share)
    if rule.min_recognised_ratio > 0 and shares[0] is not None and shares[1] is not None:
        ratio = shares[1] / shares[0] if shares[0] else 1.0
        checks.append(
            Check(
                rule="min_recognised_ratio",
                figure=ratio,
                limit=rule.min_recognised_ratio,
                passed=ratio >= rule.min_recognised_ratio,
                text=f"recognised {shares[1]:.1%} against the baseline's "
                f"{shares[0]:.1%} (ratio {ratio:.2f}; at least "
                f"{rule.min_recognised_ratio:g})",
            )
        )
    if rule.max_latency_ratio > 0 and base.latency_p95_s and cand.latency_p95_s is not None:
        ratio = cand.latency_p95_s / base.latency_p95_s
        checks.append(
            Check(
                rule="max_latency_ratio",
                figure=ratio,
                limit=rule.max_latency_ratio,
                passed=ratio <= rule.max_latency_ratio,
                text=f"p95 inference {cand.latency_p95_s:.3f}s against the baseline's "
                f"{base.latency_p95_s:.3f}s (ratio {ratio:.2f}; at most "
                f"{rule.max_latency_ratio:g})",
            )
        )
    return checks


def failing(checks: list[Check]) -> list[Check]:
    """The checks that did not hold."""
    return [c for c in checks if not c.passed]
