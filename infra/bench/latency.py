"""Added latency: end to end (publish to completed event, as the client sees it) minus the
model time the processor measured, one request at a time, and where that time goes."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from infra.bench.efficiency import Workload
from infra.bench.harness import Harness, Outcome

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LatencySample:
    """One request: seconds end to end as the client saw them, and the event's timings."""

    end_to_end_s: float
    outcome: Outcome

    @property
    def added_s(self) -> float:
        """Everything but model time."""
        return self.end_to_end_s - self.outcome.inference_s

    def stages(self) -> dict[str, float]:
        """Seconds per stage outside the model, from the completed event's timings.

        ``to_inference``: publish, the processor's fetch and batch-fill wait;
        ``result_handoff``: the processor's transaction, the sink's read_committed fetch;
        ``storage``: the PUTs; ``completed_handoff``: the sink's transaction and the
        client's read_committed fetch of the completed event.
        """
        timings = self.outcome.timings
        queued = float(timings.get("queued_s") or 0.0)
        storage = float(timings.get("storage_s") or 0.0)
        sink_end_to_end = float(timings.get("end_to_end_s") or 0.0)
        return {
            "to_inference": queued,
            "result_handoff": sink_end_to_end - storage - queued - self.outcome.inference_s,
            "storage": storage,
            "completed_handoff": self.end_to_end_s - sink_end_to_end,
        }


def added_latencies(harness: Harness, work: Workload, requests: int) -> list[LatencySample]:
    """``requests`` requests sent one after another, each waited for."""
    harness.one(work.request(0))  # warm
    samples: list[LatencySample] = []
    for i in range(requests):
        seconds, outcome = harness.one(work.request(10_000 + i))
        samples.append(LatencySample(seconds, outcome))
    return samples
