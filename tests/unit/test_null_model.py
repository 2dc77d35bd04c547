"""The built-in ``null`` model: the engine's full path around a model that computes nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="the engine needs the inference extra")

from PIL import Image

from processors.engine import EngineSettings, InferenceEngine
from processors.engine.null_model import FILL, NULL_MODEL, NullPipeline
from tests.unit.tasks import task_maker

null_task = task_maker(model=NULL_MODEL, prompt="anything", width=32, height=48, steps=3, seed=5)


@pytest.fixture
def engine(tmp_path: Path) -> InferenceEngine:
    engine = InferenceEngine(
        EngineSettings(device="cpu", preload=[NULL_MODEL], models_dir=tmp_path), home=tmp_path
    )
    engine.load()
    return engine


def test_null_model_is_built_in_and_builds_nothing(engine: InferenceEngine, tmp_path: Path) -> None:
    assert engine.registry.loaded() == [(NULL_MODEL, None)]
    assert isinstance(engine.registry.get(NULL_MODEL).pipeline, NullPipeline)
    assert list(tmp_path.iterdir()) == []


def test_null_model_returns_flat_images_of_the_requested_size(engine: InferenceEngine) -> None:
    results = engine.generate([null_task("a", num_images=2), null_task("b", seed=9)])
    assert [len(result.images) for result in results] == [2, 1]
    assert [image["seed"] for image in results[0].images] == [5, 6]
    for result in results:
        assert result.batch_images == 3
        for generated in result.images:
            picture = Image.open(io.BytesIO(generated["data"]))
            assert (generated["width"], generated["height"]) == (32, 48) == picture.size
            assert picture.convert("RGB").getcolors() == [(32 * 48, FILL)]


def test_null_model_reports_every_step(engine: InferenceEngine) -> None:
    steps: list[int] = []
    engine.generate([null_task()], progress=lambda p: steps.append(p.step))
    assert steps == [1, 2, 3]
