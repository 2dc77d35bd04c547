"""Where a simulated accelerator's idle time goes, from the pipelined processor's events.

Every gap between two model calls is charged to what the accelerator waited for:

- ``finishing``: the next batch could not start because the pipeline was full (two batches
  under way), the batch before was still being encoded and committed;
- ``intake``: the next batch was not started yet for want of messages in hand, or was
  being gathered, admitted and prepared;
- ``hand_off``: the next batch was waiting for the accelerator thread to take it up;
- ``in_stage``: inside the accelerator stage but outside the model call (the durable
  attempt record written before each pass, a late wake-up from the sleep).

Beside them, per batch: the model call, the finishing stage (from the end of the model
call: encoding and building the events) and the commit, as medians in milliseconds.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from diffstream.pipelined import ACCELERATED, ACCELERATING, COMMITTED, FINISHED, SUBMITTED

CATEGORIES = ("finishing", "intake", "hand_off", "in_stage")


def stage_split(
    events: Iterable[Any], calls: Sequence[Any], since: float, until: float
) -> dict[str, Any]:
    """Gap seconds per category, and per-batch stage medians (ms), of the batches whose
    model calls ran between ``since`` and ``until`` (perf_counter)."""
    at: dict[tuple[str, int], float] = {}
    for event in events:
        at.setdefault((event.name, event.batch), event.at)
    batches = sorted(
        batch
        for name, batch in at
        if name == ACCELERATING and since <= at[(name, batch)] and at[(name, batch)] <= until
    )
    gaps = dict.fromkeys(CATEGORIES, 0.0)
    model_ms: list[float] = []
    finish_ms: list[float] = []
    commit_ms: list[float] = []
    for batch in batches:
        start, end = at[(ACCELERATING, batch)], at.get((ACCELERATED, batch))
        if end is None:
            continue
        inside = [c for c in calls if start <= c.started and c.ended <= end]
        model_s = sum(c.compute_s for c in inside)
        model_ms.append(1000 * model_s)
        gaps["in_stage"] += max(0.0, end - start - model_s)
        finished, committed = at.get((FINISHED, batch)), at.get((COMMITTED, batch))
        if finished is not None and committed is not None:
            finish_ms.append(1000 * (finished - end))
            commit_ms.append(1000 * (committed - finished))
        following = batch + 1
        if following not in batches:
            continue
        submitted = at.get((SUBMITTED, following), at[(ACCELERATING, following)])
        waited = max(0.0, submitted - end)
        # The slot was held by the batch before this one until it committed.
        held_until = at.get((COMMITTED, batch - 1), end)
        full = min(waited, max(0.0, held_until - end))
        gaps["finishing"] += full
        gaps["intake"] += waited - full
        gaps["hand_off"] += max(0.0, at[(ACCELERATING, following)] - max(end, submitted))
    spent = sum(gaps.values())
    return {
        "batches": len(batches),
        "gap_s": gaps,
        # The category where most idle time went: what limits the accelerator.
        "limit": max(gaps, key=lambda name: gaps[name]) if spent > 0 else None,
        "model_ms_per_batch": _median(model_ms),
        "finishing_ms_per_batch": _median(finish_ms),
        "commit_ms_per_batch": _median(commit_ms),
    }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
