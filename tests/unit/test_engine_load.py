"""``EngineLoad``: the engine loaded on a thread beside the consumer's join; a batch waits for
it, is dropped when stopped first or when the load fails, and the failure reaches its owner."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="the engine needs the inference extra")

from diffstream.exceptions import DroppedBatch
from processors.engine import EngineSettings, InferenceEngine
from processors.engine.null_model import NULL_MODEL
from processors.engine_load import EngineLoad


def _never_fails(error: BaseException) -> None:
    pytest.fail(f"the load failed: {error}")


def _never_loads(seconds: float) -> None:
    pytest.fail(f"loaded in {seconds:.2f}s, a load that had to fail")


def _engine(tmp_path: Path, model: str) -> InferenceEngine:
    settings = EngineSettings(device="cpu", preload=[model], models_dir=tmp_path, warmup=False)
    return InferenceEngine(settings, home=tmp_path)


def test_a_batch_waits_for_the_load_and_the_owner_is_told(tmp_path: Path) -> None:
    engine = _engine(tmp_path, NULL_MODEL)
    loaded: list[float] = []
    before = threading.Event()
    load = EngineLoad(
        engine, None, before=before.set, on_loaded=loaded.append, on_failed=_never_fails
    )
    assert not load.loaded
    load.start().wait(threading.Event())
    assert load.loaded
    assert engine.loaded
    assert before.is_set()
    assert engine.registry.loaded() == [(NULL_MODEL, None)]
    assert len(loaded) == 1
    assert loaded[0] > 0


def test_a_failed_load_drops_the_waiting_batch_and_names_the_error(tmp_path: Path) -> None:
    engine = _engine(tmp_path, "no-such-model-here")
    failed: list[BaseException] = []
    load = EngineLoad(engine, None, on_loaded=_never_loads, on_failed=failed.append)
    with pytest.raises(DroppedBatch, match="the engine failed to load"):
        load.start().wait(threading.Event())
    assert not load.loaded
    assert failed == [load.error]
    assert "no-such-model-here" in str(load.error)


def test_an_abort_before_the_load_ends_drops_the_batch(tmp_path: Path) -> None:
    release = threading.Event()
    load = EngineLoad(
        _engine(tmp_path, NULL_MODEL),
        None,
        before=lambda: release.wait(10),  # holds the load until the batch gave up
        on_loaded=lambda _: None,
        on_failed=_never_fails,
    ).start()
    abort = threading.Event()
    abort.set()
    with pytest.raises(DroppedBatch, match="stopped before the engine was loaded"):
        load.wait(abort)
    release.set()
    load.wait(threading.Event())
    assert load.loaded


def test_ready_comes_after_both_the_join_and_the_load(tmp_path: Path) -> None:
    release = threading.Event()
    load = EngineLoad(
        _engine(tmp_path, NULL_MODEL),
        None,
        before=lambda: release.wait(10),  # the consumer joins first
        on_loaded=lambda _: None,
        on_failed=_never_fails,
    ).start()
    readied: list[str] = []
    load.when_joined(lambda: readied.append("joined first"))
    assert readied == []
    release.set()
    load.wait(threading.Event())
    assert readied == ["joined first"]
    # A later join (after a rebalance) finds the engine loaded: ready at once.
    load.when_joined(lambda: readied.append("joined again"))
    assert readied == ["joined first", "joined again"]


def test_a_failed_load_is_never_ready(tmp_path: Path) -> None:
    load = EngineLoad(
        _engine(tmp_path, "no-such-model-here"),
        None,
        on_loaded=_never_loads,
        on_failed=lambda _: None,
    )
    readied: list[str] = []
    load.when_joined(lambda: readied.append("ready"))
    with pytest.raises(DroppedBatch):
        load.start().wait(threading.Event())
    load.when_joined(lambda: readied.append("ready"))
    assert readied == []
