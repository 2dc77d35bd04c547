"""The shadow requests: a sample of the window's requests (replayed with lineage), each
twice, pinned to the baseline and to the candidate revision, with one seed per pair."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from diffstream.settings import Settings
from infra.evaluation.exceptions import EvaluationError
from processors.store.manifest import Manifest
from producers.operations.positions import Position
from producers.operations.replay import select
from schemas.events import Lane
from schemas.topics import REQUESTS

# A request without a seed is given one derived from its id, the same on both sides.
SEED_RANGE = 2**31


@dataclass(frozen=True)
class ShadowPair:
    """One original request and its two replays."""

    original_id: str
    prompt: str
    seed: int
    baseline: dict[str, Any]
    candidate: dict[str, Any]


@dataclass(frozen=True)
class ShadowSample:
    """What the window held and the pairs drawn from it."""

    topic: str
    found: int
    pairs: list[ShadowPair]


def _pinned(record: dict[str, Any], manifest: Manifest, seed: int) -> dict[str, Any]:
    # Shadow traffic notifies nobody and bills nobody: no callback, no tenant.
    return {
        **record,
        "request_id": str(uuid.uuid4()),
        "model": manifest.name,
        "revision": manifest.revision,
        "seed": seed,
        "lane": Lane.BATCH.value,
        "priority": 0,
        "callback": None,
        "tenant": None,
        "batch_id": None,
        "deadline": None,
    }


def draw(
    settings: Settings,
    baseline: Manifest,
    candidate: Manifest,
    *,
    start: Position,
    end: Position,
    sample: int,
    seed: int = 0,
    model: str | None = None,
) -> ShadowSample:
    """Up to ``sample`` requests for ``model`` (default: the candidate's name) drawn at
    random (``seed``) from the interactive lane's ``[start, end)``, as shadow pairs."""
    wanted = model or candidate.name
    report, records = select(settings, REQUESTS, start=start, end=end, filters={"model": wanted})
    if not records:
        raise EvaluationError(
            f"no requests for model {wanted!r} in {report.topic} between --from and --to "
            f"({sum(r.size for r in report.ranges)} offsets read): widen the window "
            "(e.g. --from -1d) or name the model the traffic used with --model"
        )
    chosen: Sequence[dict[str, Any]] = records
    if len(records) > sample:
        picks = sorted(random.Random(seed).sample(range(len(records)), sample))
        chosen = [records[i] for i in picks]
    pairs = []
    for record in chosen:
        original = str(record["lineage"]["original_request_id"])
        pair_seed = record.get("seed")
        if pair_seed is None:
            pair_seed = int(hashlib.sha256(original.encode()).hexdigest()[:8], 16) % SEED_RANGE
        pairs.append(
            ShadowPair(
                original_id=original,
                prompt=str(record["prompt"]),
                seed=int(pair_seed),
                baseline=_pinned(record, baseline, int(pair_seed)),
                candidate=_pinned(record, candidate, int(pair_seed)),
            )
        )
    return ShadowSample(report.topic, len(records), pairs)
