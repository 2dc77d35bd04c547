"""The built-in ``sim`` model: a simulated accelerator that sleeps, and pictures that encode
like photographs. The sleeps are real (tens of milliseconds); no clock is faked."""

from __future__ import annotations

import io
import sys
import threading
import time
from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("diffusers", reason="the engine needs the inference extra")

import numpy as np
import torch
from PIL import Image

from diffstream.settings import Settings
from processors.engine import EngineSettings, InferenceEngine
from processors.engine.sim_model import PICTURES, SIM_MODEL, SimPipeline, batch_seconds
from processors.engine.sim_pictures import picture
from tests.unit.tasks import task_maker

# A busy 2-core machine wakes a sleeper late by a few ms; never early.
LATE_S = 0.25


sim_task = task_maker(model=SIM_MODEL, prompt="anything", width=64, height=64, steps=4, seed=5)


def generators(*seeds: int) -> list[torch.Generator]:
    return [torch.Generator("cpu").manual_seed(seed) for seed in seeds]


@pytest.fixture(scope="module")
def photo_like() -> Image.Image:
    return picture(1, 512, 512)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[InferenceEngine]:
    settings = EngineSettings(
        device="cpu",
        preload=[SIM_MODEL],
        models_dir=tmp_path,
        sim_ms_per_image=15,
        sim_batch_alpha=0.5,
    )
    engine = InferenceEngine(settings, home=tmp_path)
    engine.load()
    yield engine
    engine.close()


@pytest.mark.parametrize(("images", "alpha"), [(1, 0.8), (8, 0.8), (8, 1.0), (4, 0.0)])
def test_a_call_takes_the_formulas_time(images: int, alpha: float) -> None:
    pipe = SimPipeline(ms_per_image=20, batch_alpha=alpha)
    pipe.warm(64, 64)
    expected = 0.020 * images**alpha
    started = time.perf_counter()
    output = pipe(["p"] * images, width=64, height=64, generator=generators(*range(images)))
    took = time.perf_counter() - started
    assert len(output.images) == images
    assert expected <= took < expected + LATE_S
    [call] = pipe.calls
    assert call.images == images
    assert call.compute_s == pytest.approx(expected) == batch_seconds(images, 20, alpha)
    assert expected <= call.ended - call.started < expected + LATE_S
    assert pipe.busy_s == pytest.approx(expected)


def test_batching_pays_off_below_alpha_one() -> None:
    assert batch_seconds(8, 40, 0.8) == pytest.approx(0.040 * 8**0.8)
    assert batch_seconds(8, 40, 0.8) < 8 * batch_seconds(1, 40, 0.8)
    assert batch_seconds(8, 40, 1.0) == pytest.approx(8 * 0.040)
    assert batch_seconds(0, 40, 1.0) == 0.0


def test_the_call_releases_the_gil_and_uses_no_cpu() -> None:
    """With a 2 s switch interval a thread holding the GIL would starve this one for the
    whole call; the sim call must leave it running throughout."""
    pipe = SimPipeline(ms_per_image=400, batch_alpha=1.0)
    pipe.warm(64, 64)
    entering = threading.Event()
    cpu_s: list[float] = []

    def call() -> None:
        entering.set()
        before = time.thread_time()
        pipe(["p"], width=64, height=64, generator=generators(0))
        cpu_s.append(time.thread_time() - before)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(2.0)
    try:
        worker = threading.Thread(target=call)
        worker.start()
        entering.wait()
        # Spin a little past the call's end (the worker needs the GIL back to finish).
        until = time.perf_counter() + 0.5
        ticks: list[float] = []
        while (now := time.perf_counter()) < until:
            ticks.append(now)
    finally:
        sys.setswitchinterval(previous)
    worker.join()
    [sim] = pipe.calls
    during = [t for t in ticks if sim.started <= t <= sim.ended]
    assert len(during) > 1000
    gaps = np.diff([sim.started, *during, min(sim.ended, ticks[-1])])
    assert gaps.max() < 0.2  # this thread ran all through the call
    assert cpu_s[0] < 0.1 * sim.compute_s  # sleeping, not spinning


def test_pictures_differ_by_seed_cycle_and_are_not_flat() -> None:
    pipe = SimPipeline(ms_per_image=1)
    seeds = [0, 1, 2, PICTURES + 1]
    images = pipe(["p"] * 4, width=96, height=64, generator=generators(*seeds)).images
    arrays = [np.asarray(image) for image in images]
    assert all(array.shape == (64, 96, 3) for array in arrays)
    assert len({array.tobytes() for array in arrays[:3]}) == 3
    assert images[3] is images[1]  # seeds cycle through PICTURES cached pictures
    for array in arrays:
        assert array.std() > 20
        assert len(np.unique(array.reshape(-1, 3), axis=0)) > 1000
    again = pipe(["p"], width=96, height=64, generator=generators(2)).images[0]
    assert again is images[2]  # made once


def encoded_kb(image: Image.Image, **options: Any) -> float:
    buffer = io.BytesIO()
    image.save(buffer, **options)
    return len(buffer.getvalue()) / 1024


def test_pictures_compress_like_photographs(photo_like: Image.Image) -> None:
    """Two natural 512x512 photographs (README, "Encoding costs") give PNG 395-465 KB at
    level 1 and 343-438 KB at level 6, JPEG q95 76-120 KB: within each range's margin,
    where the encoder does as much work as on a photograph (a flat image gives 2 KB)."""
    assert 330 <= encoded_kb(photo_like, format="PNG", compress_level=1) <= 560
    assert 300 <= encoded_kb(photo_like, format="PNG", compress_level=6) <= 520
    assert 50 <= encoded_kb(photo_like, format="JPEG", quality=95) <= 160
    flat = Image.new("RGB", (512, 512), (128, 128, 128))
    assert encoded_kb(flat, format="PNG", compress_level=1) < 10


def test_engine_runs_sim_end_to_end(engine: InferenceEngine, tmp_path: Path) -> None:
    loaded = engine.registry.get(SIM_MODEL)
    assert loaded.source == f"built-in {SIM_MODEL}"
    assert isinstance(loaded.pipeline, SimPipeline)
    assert list(tmp_path.iterdir()) == []  # nothing built or downloaded
    steps: list[int] = []
    results = engine.generate(
        [sim_task("a", num_images=2), sim_task("b", seed=9, output_format="jpeg")],
        progress=lambda p: steps.append(p.step),
    )
    assert steps == [1, 2, 3, 4]
    assert [len(result.images) for result in results] == [2, 1]
    assert [image["seed"] for image in results[0].images] == [5, 6]
    shas = {sha256(image["data"]).digest() for result in results for image in result.images}
    assert len(shas) == 3
    for result in results:
        assert result.batch_images == 3
        assert result.inference_s >= 0.015 * 3**0.5
        for generated in result.images:
            with Image.open(io.BytesIO(generated["data"])) as image:
                assert image.size == (64, 64)
                assert np.asarray(image.convert("RGB")).std() > 20
    assert results[1].images[0]["content_type"] == "image/jpeg"


def test_sim_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIFFSTREAM_ENGINE__SIM_MS_PER_IMAGE", "12.5")
    monkeypatch.setenv("DIFFSTREAM_ENGINE__SIM_BATCH_ALPHA", "0.7")
    engine = Settings().engine
    assert (engine.sim_ms_per_image, engine.sim_batch_alpha) == (12.5, 0.7)
    monkeypatch.setenv("DIFFSTREAM_ENGINE__SIM_BATCH_ALPHA", "1.5")
    with pytest.raises(ValueError, match="sim_batch_alpha"):
        Settings()
