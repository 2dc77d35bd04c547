"""Added latency: end to end (publish to completed event, as the client sees it) minus the
model time the processor measured, one request at a time."""

from __future__ import annotations

import logging

from infra.bench.efficiency import Workload
from infra.bench.harness import Harness

log = logging.getLogger(__name__)


def added_latencies(
    harness: Harness, work: Workload, requests: int
) -> tuple[list[float], list[float]]:
    """(added seconds, end-to-end seconds) of ``requests`` requests sent one after another."""
    harness.one(work.request(0))  # warm
    added: list[float] = []
    end_to_end: list[float] = []
    for i in range(requests):
        seconds, outcome = harness.one(work.request(10_000 + i))
        end_to_end.append(seconds)
        added.append(seconds - outcome.inference_s)
    return added, end_to_end
