"""Attempt records written ahead, through the real broker: a cycle prepared while the batch
before still runs has its first pass recorded ``processing`` before its model call, and that
call records nothing again (``processors.inference.InferenceRun.record_ahead``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Message
from prometheus_client import CollectorRegistry

from diffstream.request_limits import RequestLimits
from diffstream.settings import Settings
from processors.engine.drawn import DrawnTask
from processors.engine.engine import InferenceEngine
from processors.engine.null_model import NULL_MODEL
from processors.engine.settings import EngineSettings
from processors.inference import Candidate, InferenceRun
from processors.intake import Admitted, admit
from processors.ledger import RequestLedger
from processors.metrics import ProcessorMetrics
from schemas.builders import new_request
from schemas.codec import Codec
from schemas.events import EventName
from schemas.topics import REQUESTS, STATUS
from tests.integration.sinks_support import read_committed

pytestmark = pytest.mark.integration

REQUESTS_IN_PASS = 3


@pytest.fixture
def null_engine(tmp_path: Path) -> Iterator[InferenceEngine]:
    engine = InferenceEngine(
        EngineSettings(device="cpu", preload=[NULL_MODEL], warmup=False), home=tmp_path
    )
    engine.load()
    yield engine
    engine.close()


def candidates(settings: Settings, codec: Codec) -> list[Candidate]:
    """Requests as a processor admits them from its topic, none of them a suspect."""
    admitted: list[Candidate] = []
    for offset in range(REQUESTS_IN_PASS):
        request = new_request(f"ahead {offset}", seed=offset, model=NULL_MODEL, steps=2)
        value = codec.encode(EventName.REQUEST, request)
        message = Message(topic=settings.topic(REQUESTS), partition=0, offset=offset, value=value)
        item = admit(message, codec=codec, limits=RequestLimits(), is_cancelled=lambda _: False)
        assert isinstance(item, Admitted), item
        admitted.append(Candidate(item, crashes=0))
    return admitted


def test_a_pass_recorded_ahead_is_on_the_broker_before_its_model_call_and_not_written_twice(
    isolated: Settings, null_engine: InferenceEngine
) -> None:
    codec = Codec(isolated)
    ledger = RequestLedger(isolated, codec)
    run = InferenceRun(
        null_engine,
        ledger,
        ProcessorMetrics.create(CollectorRegistry()),
        max_attempts=1,
        max_batch_size=8,
        on_step=lambda *_: None,
    )
    cycle = candidates(isolated, codec)
    ids = {c.admitted.task.request_id for c in cycle}
    ledger.start()
    try:
        run.record_ahead(cycle)
        ahead = read_committed(isolated, STATUS, expected=REQUESTS_IN_PASS)
        assert {(str(s["request_id"]), s["state"], s["attempt"]) for s in ahead} == {
            (rid, "processing", 1) for rid in ids
        }, "recorded ahead, before any model call"

        drawn = run.run(cycle, threading.Event())
        assert all(isinstance(entry, DrawnTask) for entry in drawn), drawn
        run.release()  # done with inference: the attempts are released
        written = read_committed(isolated, STATUS, expected=2 * REQUESTS_IN_PASS)
    finally:
        ledger.stop()
    states = [(str(s["request_id"]), s["state"]) for s in written]
    assert sorted(states) == sorted(
        [(rid, "processing") for rid in ids] + [(rid, "queued") for rid in ids]
    ), "the model call wrote its pass's records again"
