"""BentoML: one service whose API is ``batchable=True`` (adaptive batching, at most 8),
as BentoML's "Adaptive batching" guide shows: each HTTP request carries a list (here of
one request) and the dispatcher merges the lists of concurrent requests into one call.
The PNGs come back base64-encoded in the JSON list.
``bentoml serve benchmarks.peers.bentoml_service:Diffusion --port 8000``
"""

from __future__ import annotations

import base64
from typing import Any

import bentoml

from benchmarks.peers.common import Model


@bentoml.service(
    workers=1,
    traffic={"timeout": 600, "max_concurrency": 10_000},
    logging={"access": {"enabled": False}},  # as quiet as the other systems
)
class Diffusion:
    def __init__(self) -> None:
        self.model = Model()

    @bentoml.api(batchable=True, max_batch_size=8, max_latency_ms=600_000)
    def generate(self, bodies: list[dict[str, Any]]) -> list[str]:
        return [base64.b64encode(png).decode() for png in self.model.generate(bodies)]
