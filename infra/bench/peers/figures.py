"""The arithmetic of the peers bench: arrival times, phase rates, per-phase figures, ratios.

Latency runs from a request's due time (open loop: a late send counts its wait). A request
that yields no image counts as the timeout in the percentiles, so a system cannot look fast
by failing its slowest requests.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from infra.bench.stats import percentile

# ok: an image came back. refused: the system said so before taking the request (the
# connection was refused, or 429/503), so the client knows to retry. error: any other
# answer without an image. timeout: no answer within the timeout.
Outcome = Literal["ok", "refused", "error", "timeout"]
DIFFSTREAM = "diffstream"


@dataclass(slots=True)
class Record:
    """One request: when it was due and ended (seconds from the phase's start), and how."""

    due: float
    ended: float | None = None
    outcome: Outcome | None = None
    detail: str = ""


def arrival_times(rate: float, duration_s: float, *, poisson: bool, seed: int = 0) -> list[float]:
    """Due times in [0, duration_s) at ``rate`` per second: evenly spaced, or a Poisson
    process (exponential gaps, seeded, so every system gets the same arrivals)."""
    if rate <= 0 or duration_s <= 0:
        return []
    if not poisson:
        return [i / rate for i in range(int(rate * duration_s))]
    draw = random.Random(seed)
    times: list[float] = []
    now = draw.expovariate(rate)
    while now < duration_s:
        times.append(now)
        now += draw.expovariate(rate)
    return times


def phase_rates(
    capacity: float, *, steady_fraction: float, burst_factor: float, max_rate: float | None
) -> tuple[float, float]:
    """(steady, burst) offered rates: ``steady_fraction`` of the bare loop's capacity (at
    most ``max_rate``), and ``burst_factor`` times that."""
    steady = capacity * steady_fraction
    if max_rate is not None:
        steady = min(steady, max_rate)
    return steady, steady * burst_factor


def summary(records: Sequence[Record], timeout_s: float) -> dict[str, Any]:
    """A phase's figures: offered, completed, completed/s (from the first due time to the
    last image), latency p50/p99 (failures count as ``timeout_s``), errors, timeouts."""
    counts = {kind: 0 for kind in ("ok", "refused", "error", "timeout")}
    for record in records:
        counts[record.outcome or "timeout"] += 1
    ok = [r for r in records if r.outcome == "ok" and r.ended is not None]
    latencies = [
        r.ended - r.due if r.outcome == "ok" and r.ended is not None else timeout_s for r in records
    ]
    span = (
        max(r.ended for r in ok if r.ended is not None) - min(r.due for r in records) if ok else 0.0
    )
    details: dict[str, int] = {}
    for record in records:
        if record.outcome != "ok" and record.detail:
            details[record.detail] = details.get(record.detail, 0) + 1
    return {
        "offered": len(records),
        "completed": counts["ok"],
        "completed_per_s": counts["ok"] / span if span > 0 else 0.0,
        "p50_s": percentile(latencies, 0.5) if latencies else None,
        "p99_s": percentile(latencies, 0.99) if latencies else None,
        "errors": counts["error"] + counts["refused"],
        "refused": counts["refused"],
        "timeouts": counts["timeout"],
        "failures": dict(sorted(details.items(), key=lambda item: -item[1])[:5]),
    }


def lost(records: Sequence[Record]) -> int:
    """Requests the system took and never turned into an image: every request that was
    neither answered with one nor refused up front."""
    return sum(1 for record in records if record.outcome not in ("ok", "refused"))


def ratios(systems: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    """``vs_<peer>_throughput`` (diffstream / peer, completed/s in the burst, which
    saturates every system), ``vs_<peer>_p99_burst`` (peer / diffstream) and
    ``vs_<peer>_throughput_vs_bare`` (the throughput ratio with each side's burst taken
    over the bare loop measured around it); None where either side has no figure."""
    ours = _burst(systems.get(DIFFSTREAM))
    out: dict[str, float | None] = {}
    for name, system in systems.items():
        if name == DIFFSTREAM:
            continue
        theirs = _burst(system)
        out[f"vs_{name}_throughput"] = _divide(
            ours.get("completed_per_s"), theirs.get("completed_per_s")
        )
        out[f"vs_{name}_p99_burst"] = _divide(theirs.get("p99_s"), ours.get("p99_s"))
        out[f"vs_{name}_throughput_vs_bare"] = _divide(ours.get("vs_bare"), theirs.get("vs_bare"))
    return out


def burst_vs_bare(
    burst: Mapping[str, Any], bare_before: float | None, bare_after: float | None
) -> float | None:
    """A system's burst completed/s over the bare loop's img/s measured just before and just
    after it (their mean): what its throughput is worth on the machine as fast as it was
    then. A shared machine's speed drifts by a fifth within minutes, more than the gap
    between two systems measured one after the other."""
    if bare_before is None or bare_after is None:
        return None
    return _divide(burst.get("completed_per_s"), (bare_before + bare_after) / 2)


def _burst(system: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if not system or system.get("status") != "ok":
        return {}
    burst: Mapping[str, Any] = system.get("burst") or {}
    return burst


def _divide(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator
