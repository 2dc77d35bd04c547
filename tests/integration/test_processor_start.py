"""A processor started with its engine not loaded: it loads it while the consumer joins, says
ready only once both are done, and a request that arrives meanwhile waits and completes
exactly once; a load that fails stops it with the load's error."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

pytest.importorskip("diffusers", reason="the engine needs the inference extra")

from diffstream.settings import Settings
from processors.engine.engine import InferenceEngine
from processors.engine.null_model import NULL_MODEL
from processors.engine.settings import EngineSettings
from processors.exceptions import ModelNotFoundError
from processors.worker import StreamProcessor
from schemas.builders import new_request
from schemas.topics import RESULTS
from tests.integration.isolation import SMALL
from tests.integration.test_processor import publish, read_committed

pytestmark = pytest.mark.integration

JOIN_TIMEOUT_S = 60.0


def _engine(home: Path, model: str) -> InferenceEngine:
    return InferenceEngine(EngineSettings(device="cpu", preload=[model]), home=home)


def _wait_for(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_ready_only_when_joined_and_loaded(isolated: Settings, tmp_path: Path) -> None:
    release = threading.Event()
    joined = threading.Event()
    processor = StreamProcessor(
        isolated, _engine(tmp_path, NULL_MODEL), before_load=lambda: release.wait(120)
    )
    assigned = processor.assigned

    def note_join(partitions: list[TopicPartition]) -> None:
        assigned(partitions)
        joined.set()

    processor.assigned = note_join  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(target=processor.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert joined.wait(JOIN_TIMEOUT_S), "the consumer did not join while the engine loaded"
        request = new_request("held", model=NULL_MODEL, seed=1, **SMALL)
        publish(isolated, [request])
        time.sleep(2.0)  # gathered by now, and waiting for the engine
        assert not processor.health.is_ready(), "ready before the engine was loaded"
        assert not processor.engine.loaded
        release.set()
        assert _wait_for(processor.health.is_ready, 60), "not ready once loaded"
        results = read_committed(isolated, RESULTS, expected=1)
        assert [str(r["request_id"]) for r in results] == [str(request["request_id"])]
    finally:
        release.set()
        stop.set()
        thread.join(60)
    assert not thread.is_alive(), "the processor did not stop"


def test_a_failed_load_stops_the_processor_with_its_error(
    isolated: Settings, tmp_path: Path
) -> None:
    processor = StreamProcessor(isolated, _engine(tmp_path, "no-such-model-at-all"))
    with pytest.raises(ModelNotFoundError, match="no-such-model-at-all"):
        processor.run(threading.Event())
    assert not processor.health.is_ready()
