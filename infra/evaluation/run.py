"""One shadow evaluation from start to end: resolve both revisions, draw the sample, publish
every pair on the batch lane, wait for the outcomes, compare, judge, record."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from diffstream.settings import Settings
from infra.evaluation.shadow import ShadowPair, draw
from infra.evaluation.waiting import OnOutcome, outcome_of, wait_for_outcomes
from processors.engine.digits.reading import read_digit
from processors.store import operations
from processors.store.evaluation import Pair, compare
from processors.store.evaluation_figures import Evaluation, EvaluationWindow
from processors.store.evaluation_report import contact_sheet
from processors.store.evaluation_rule import failing, judge
from processors.store.evaluation_store import record
from processors.store.refs import ModelRef
from producers.client.events import Event
from producers.client.publisher import Publisher
from producers.operations.positions import parse_position
from schemas.prompts import digit_in_prompt

# The digits pipeline draws one digit per prompt: its pictures can be read back.
DIGITS_PIPELINE = "DigitsPipeline"
# Outcomes written a little before the publish still count (clocks of one machine).
SINCE_SLACK = timedelta(seconds=5)


@dataclass(frozen=True)
class EvaluationPlan:
    """What to evaluate against what, on which traffic."""

    candidate: ModelRef
    baseline: ModelRef
    sample: int = 200
    start: str = "-1h"
    end: str = "now"
    seed: int = 0
    timeout_s: float = 900.0
    model: str | None = None  # the traffic's model name; default the candidate's


@dataclass(frozen=True)
class EvaluationRun:
    """The recorded evaluation, where it lies, and the sheet's bytes."""

    evaluation: Evaluation
    uris: list[str]
    sheet_png: bytes


def _ignore(_done: int, _total: int) -> None:
    return None


def _pair(settings: Settings, shadow: ShadowPair, events: dict[str, Event], digits: bool) -> Pair:
    base_id, cand_id = (str(shadow.baseline["request_id"]), str(shadow.candidate["request_id"]))
    return Pair(
        original_id=shadow.original_id,
        prompt=shadow.prompt,
        seed=shadow.seed,
        expected_digit=digit_in_prompt(shadow.prompt) if digits else None,
        baseline=outcome_of(settings, base_id, events.get(base_id)),
        candidate=outcome_of(settings, cand_id, events.get(cand_id)),
    )


def evaluate(
    settings: Settings,
    plan: EvaluationPlan,
    *,
    on_published: OnOutcome = _ignore,
    on_outcome: OnOutcome = _ignore,
) -> EvaluationRun:
    """Run ``plan`` and record its report next to the candidate's manifest."""
    table = operations.read_aliases(settings)
    candidate = operations.resolve(settings, plan.candidate, table)
    baseline = operations.resolve(settings, plan.baseline, table)
    start, end = parse_position(plan.start), parse_position(plan.end)
    sample = draw(
        settings,
        baseline,
        candidate,
        start=start,
        end=end,
        sample=plan.sample,
        seed=plan.seed,
        model=plan.model,
    )
    requests = [r for p in sample.pairs for r in (p.baseline, p.candidate)]
    since = datetime.now(UTC) - SINCE_SLACK
    with Publisher(settings, service="models-evaluate") as publisher:
        futures = [publisher.send(r) for r in requests]
        for done, future in enumerate(futures, 1):
            publisher.wait_acknowledged(future)
            on_published(done, len(futures))
    ids = [str(r["request_id"]) for r in requests]
    events = wait_for_outcomes(settings, ids, since, plan.timeout_s, on_outcome)
    digits = candidate.pipeline_class == DIGITS_PIPELINE
    pairs = [_pair(settings, p, events, digits) for p in sample.pairs]
    comparison = compare(
        pairs, baseline.revision, candidate.revision, read_digit if digits else None
    )
    checks = judge(comparison, settings.models.evaluation)
    created = datetime.now(UTC)
    evaluation = Evaluation(
        evaluation_id=f"{created:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}",
        name=candidate.name,
        candidate=candidate.revision,
        baseline=baseline.revision,
        created_at=created,
        window=EvaluationWindow(
            topic=sample.topic,
            start=start.time or plan.start,
            end=end.time or plan.end,
            found=sample.found,
            sampled=len(sample.pairs),
        ),
        comparison=comparison,
        checks=tuple(checks),
        passed=not failing(checks),
    )
    sheet = contact_sheet(evaluation, {p.original_id: p for p in pairs})
    return EvaluationRun(evaluation, record(settings, evaluation, sheet), sheet)
