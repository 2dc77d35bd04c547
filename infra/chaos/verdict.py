"""Judging a scenario: what each request's outcomes had to be, and what they were."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from infra.chaos.outcomes import Terminal


@dataclass(frozen=True, slots=True)
class Expect:
    """The terminal events one request_id must get: ``completed`` completions and one
    failure per code in ``failed``; a failure's message must contain ``message_contains``."""

    completed: int = 1
    failed: tuple[str, ...] = ()
    message_contains: str | None = None

    def labels(self) -> Counter[str]:
        """The expected events as labels (``completed``, ``failed:<code>``) with counts."""
        labels: Counter[str] = Counter({"completed": self.completed} if self.completed else {})
        labels.update(f"failed:{code}" for code in self.failed)
        return labels


COMPLETES = Expect()


def fails(code: str, message_contains: str | None = None) -> Expect:
    """A request that must fail, once, with ``code``."""
    return Expect(completed=0, failed=(code,), message_contains=message_contains)


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault a scenario injected: when, when it was healed, what was in flight then."""

    name: str
    injected_at: float
    healed_at: float
    in_flight: frozenset[str]


@dataclass(slots=True)
class Tally:
    """The counts a scenario is judged on."""

    requests: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)


def _label(event: Terminal) -> str:
    return "completed" if event.kind == "completed" else f"failed:{event.error_code}"


def tally(expected: Mapping[str, Expect], outcomes: Mapping[str, Sequence[Terminal]]) -> Tally:
    """Lost (no outcome), more than one terminal event (more than expected) and wrong
    outcomes (an outcome other than the expected one), per request_id."""
    result = Tally(requests=len(expected))
    for request_id, expect in expected.items():
        events = outcomes.get(request_id, ())
        if not events:
            result.lost.append(request_id)
            continue
        got = Counter(_label(event) for event in events)
        want = expect.labels()
        over = any(got[label] > want.get(label, 1) for label in got)
        if over or sum(got.values()) > sum(want.values()):
            result.duplicated.append(request_id)
        message_ok = expect.message_contains is None or any(
            expect.message_contains in event.message for event in events if event.kind == "failed"
        )
        if set(got) != set(want) or not message_ok:
            result.wrong.append(request_id)
    return result


# A request is delayed by a fault when it waited longer than this (or than three times
# the typical wait before the first fault, on a slow machine) from publish to outcome.
DELAYED_S = 2.0


def delayed_after(baseline_s: float) -> float:
    """The wait from publish to outcome beyond which a request counts as delayed."""
    return max(DELAYED_S, 3 * baseline_s)


def recovery_s(
    fault: Fault,
    *,
    until: float,
    acked_at: Mapping[str, float],
    first_outcome: Mapping[str, float],
    delayed_s: float,
) -> float | None:
    """Seconds from the fault until the last request it delayed had its outcome: the
    requests in flight at the fault and those published before ``until`` (the next fault)
    that waited more than ``delayed_s``. 0 when it delayed none; None when one of them
    never got an outcome."""
    affected = set(fault.in_flight) | {
        request_id for request_id, acked in acked_at.items() if fault.injected_at <= acked < until
    }
    ends = []
    for request_id in affected:
        done = first_outcome.get(request_id)
        if done is None:
            return None
        if request_id in fault.in_flight or done - acked_at[request_id] > delayed_s:
            ends.append(done)
    return max(ends) - fault.injected_at if ends else 0.0


def longest_gap_s(times: Sequence[float]) -> float:
    """The longest wait between two consecutive outcomes."""
    ordered = sorted(times)
    return max((b - a for a, b in itertools.pairwise(ordered)), default=0.0)
