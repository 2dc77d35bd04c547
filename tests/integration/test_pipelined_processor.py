"""The pipelined processor through the real broker, on the simulated accelerator.

With a backlog, the next batch's model call starts before the previous batch's transaction
commits (shown by the recorded order of events, not by timings), transactions commit in
batch order, and every request still has exactly one result and no failure.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from diffstream.pipelined import ACCELERATED, ACCELERATING, COMMITTED
from diffstream.settings import Settings
from processors.engine.engine import InferenceEngine
from processors.engine.settings import EngineSettings
from processors.engine.sim_model import SIM_MODEL
from processors.worker import StreamProcessor
from schemas.builders import new_request
from schemas.topics import RESULTS
from tests.integration.isolation import isolate
from tests.integration.test_processor import publish, read_committed
from tests.integration.threads import on_threads

pytestmark = pytest.mark.integration

REQUESTS = 32


def test_the_next_model_call_overlaps_the_last_commit_and_each_request_has_one_result(
    settings: Settings, tmp_path: Path
) -> None:
    own = isolate(settings, processor={"pipeline_depth": 2})  # batches of 8
    engine = InferenceEngine(
        EngineSettings(
            device="cpu",
            preload=(SIM_MODEL,),
            warmup=False,
            sim_ms_per_image=25.0,
            sim_batch_alpha=1.0,
        ),
        home=tmp_path,
    )
    engine.load()
    requests = [
        new_request(f"pipelined {i}", seed=i, model=SIM_MODEL, width=256, height=256, steps=4)
        for i in range(REQUESTS)
    ]
    publish(own, requests)  # a backlog before the processor starts
    registry = CollectorRegistry()
    processor = StreamProcessor(own, engine, registry=registry)
    try:
        with on_threads(processor.run) as (thread,):
            results = read_committed(own, RESULTS, expected=REQUESTS)
    finally:
        engine.close()
    assert not thread.is_alive()

    ids = Counter(str(result["request_id"]) for result in results)
    assert set(ids) == {str(request["request_id"]) for request in requests}
    assert max(ids.values()) == 1, "a request has two results"
    for outcome in ("failed", "dead_letter", "duplicate"):
        counted = registry.get_sample_value(
            "diffstream_processor_requests_total", {"outcome": outcome}
        )
        assert not counted, f"{counted} requests {outcome}"

    assert processor.loop.pipeline is not None
    events = [(event.name, event.batch) for event in processor.loop.pipeline.events]
    committed = [batch for name, batch in events if name == COMMITTED]
    assert committed == sorted(committed), "transactions out of batch order"
    overlapped = [
        batch
        for batch in committed
        if (ACCELERATING, batch + 1) in events
        and events.index((ACCELERATING, batch + 1)) < events.index((COMMITTED, batch))
    ]
    assert overlapped, f"no model call started before the previous batch committed: {events}"
    # The accelerator takes one batch at a time, in batch order.
    calls = [(name, batch) for name, batch in events if name in (ACCELERATING, ACCELERATED)]
    assert calls == sorted(calls, key=lambda call: (call[1], call[0] == ACCELERATED))
