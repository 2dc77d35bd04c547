"""The rule a shadow evaluation must pass before a guarded alias (``prod``) may point at a
candidate revision (``DIFFSTREAM_MODELS__EVALUATION__*``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EvaluationRule(BaseModel):
    """Limits on a candidate's figures, each against the baseline it was replayed beside."""

    model_config = ConfigDict(frozen=True)

    # Aliases that only a revision with a passing evaluation may take (without --force).
    guarded_aliases: tuple[str, ...] = ("prod",)
    # The candidate's failed requests over its replayed ones.
    max_failure_share: float = Field(0.02, ge=0, le=1)
    # The candidate's recognised share (digits) over the baseline's; 0 turns the check off.
    min_recognised_ratio: float = Field(0.9, ge=0)
    # The candidate's p95 inference time over the baseline's; 0 turns the check off.
    max_latency_ratio: float = Field(1.5, ge=0)
    # Fewer pairs than this do not count as an evaluation.
    min_pairs: int = Field(1, ge=1)
