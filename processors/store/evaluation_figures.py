"""What a shadow evaluation records (``models/NAME/REV/evaluations/ID.json``): both sides'
figures, every pair, the checks of the pass rule and the verdict. Pydantic only, so that
``models alias`` reads them back without the inference extra."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

ENV = "DIFFSTREAM_MODELS__EVALUATION__"


class SideFigures(BaseModel):
    """One revision's figures over every pair."""

    model_config = ConfigDict(frozen=True)

    revision: str
    requests: int
    failures: int
    failure_share: float
    latency_p50_s: float | None
    latency_p95_s: float | None
    recognised_share: float | None  # None: no prompt asks for a digit


class PairFigures(BaseModel):
    """One pair, side by side."""

    model_config = ConfigDict(frozen=True)

    original_id: str
    prompt: str
    seed: int
    baseline_request_id: str
    candidate_request_id: str
    baseline_error: str | None
    candidate_error: str | None
    pixel_difference: float | None  # mean absolute difference, 0 (same) to 1
    ssim: float | None  # structural similarity, 1 (same) down to -1
    expected_digit: int | None
    baseline_digit: int | None
    candidate_digit: int | None


class Comparison(BaseModel):
    """Both sides and every pair."""

    model_config = ConfigDict(frozen=True)

    baseline: SideFigures
    candidate: SideFigures
    pixel_difference_mean: float | None
    ssim_mean: float | None
    pairs: tuple[PairFigures, ...]


class EvaluationWindow(BaseModel):
    """Where the replayed requests came from."""

    model_config = ConfigDict(frozen=True)

    topic: str
    start: datetime | str
    end: datetime | str
    found: int
    sampled: int


class Check(BaseModel):
    """One limit: the setting, the candidate's figure, the limit, whether it holds."""

    model_config = ConfigDict(frozen=True)

    rule: str
    figure: float
    limit: float
    passed: bool
    text: str

    @property
    def setting(self) -> str:
        """The environment variable that sets the limit."""
        return ENV + self.rule.upper()


class Evaluation(BaseModel):
    """What ``models/NAME/CANDIDATE/evaluations/ID.json`` holds."""

    model_config = ConfigDict(frozen=True)

    evaluation_id: str
    name: str
    candidate: str
    baseline: str
    created_at: datetime
    window: EvaluationWindow
    comparison: Comparison
    checks: tuple[Check, ...]
    passed: bool

    def to_json(self) -> bytes:
        """The report as pretty JSON bytes."""
        return self.model_dump_json(indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Evaluation:
        """A report read back (``pydantic.ValidationError`` when malformed)."""
        return cls.model_validate_json(data)
