"""The inference engine on tiny-sd, on the CPU: real diffusers code paths, no mocks.

The only thing injected is a CUDA out-of-memory error, raised from the engine's own
per-step progress hook inside the real pipeline call.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import io
import os
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("diffusers", reason="the engine needs the inference extra")

import numpy as np
import torch
from PIL import Image

from processors.engine import (
    SCHEDULERS,
    EngineSettings,
    InferenceEngine,
    StepProgress,
)
from processors.engine.encoding import read_parameters
from processors.engine.tiny_sd import TINY_SD, build_tiny_sd, ensure_tiny_sd
from processors.exceptions import (
    EngineConfigurationError,
    EngineNotLoadedError,
    InferenceError,
    InvalidTaskError,
    ModelNotFoundError,
    OutOfMemoryError,
)
from schemas.events import ErrorCode
from tests.unit.tasks import make_task

# diffusers' schedulers hand torch tensors to numpy, which numpy 2.x flags thousands of
# times per run; it is theirs to fix and says nothing about the engine.
pytestmark = [
    pytest.mark.filterwarnings(r"ignore::DeprecationWarning:diffusers\.schedulers\."),
    pytest.mark.filterwarnings(r"ignore:__array_wrap__ must accept context:DeprecationWarning"),
]


def make_engine(models_dir: Path, **changes: Any) -> InferenceEngine:
    # One thread: tiny kernels gain nothing from more, and a busy 2-core box makes OpenMP
    # threads spin against each other (seconds instead of milliseconds per image).
    fields: dict[str, Any] = {
        "models_dir": models_dir,
        "device": "cpu",
        "cpu_threads": 1,
        "warmup": False,
    }
    fields.update(changes)
    engine = InferenceEngine(EngineSettings(**fields))
    engine.load()
    return engine


def pixels(data: bytes) -> np.ndarray[Any, Any]:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def engine(models_dir: Path) -> Iterator[InferenceEngine]:
    engine = make_engine(models_dir, warmup=True)
    yield engine
    engine.close()


def test_tiny_sd_makes_a_64px_png_from_a_saved_diffusers_directory(
    engine: InferenceEngine, models_dir: Path
) -> None:
    assert (models_dir / TINY_SD / "model_index.json").is_file()
    assert (models_dir / TINY_SD / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    [result] = engine.generate([make_task()])
    [image] = result.images
    assert result.request_id == "req-1"
    assert (image["width"], image["height"], image["index"], image["seed"]) == (64, 64, 0, 123)
    assert image["content_type"] == "image/png"
    assert pixels(image["data"]).shape == (64, 64, 3)
    assert result.batch_images == 1
    assert 0 < result.inference_s < 5  # about 0.15 s on one core; generous for busy CI
    assert engine.device == torch.device("cpu")
    assert engine.dtype == torch.float32


def test_same_task_twice_gives_the_same_bytes(engine: InferenceEngine) -> None:
    first = engine.generate([make_task()])[0].images[0]
    second = engine.generate([make_task()])[0].images[0]
    assert first["data"] == second["data"]
    other_seed = engine.generate([make_task(seed=124)])[0].images[0]
    assert other_seed["data"] != first["data"]


def test_same_batch_twice_gives_the_same_bytes_per_task(engine: InferenceEngine) -> None:
    batch = [
        make_task(request_id="a", prompt="a red fox", seed=1),
        make_task(request_id="b", prompt="a blue whale", negative_prompt="blurry", seed=2),
        make_task(request_id="c", prompt="a green frog", seed=3, num_images=2),
    ]
    first = engine.generate(batch)
    second = engine.generate(batch)
    assert [r.request_id for r in first] == ["a", "b", "c"]
    assert [len(r.images) for r in first] == [1, 1, 2]
    assert all(r.batch_images == 4 for r in first)
    for one, two in zip(first, second, strict=True):
        assert [i["data"] for i in one.images] == [i["data"] for i in two.images]


def test_a_shared_call_is_charged_to_its_tasks_by_images(engine: InferenceEngine) -> None:
    one, three = engine.generate(
        [make_task(request_id="a", seed=1), make_task(request_id="b", seed=5, num_images=3)]
    )
    # Both waited for the whole call; usage charges each its images' share of it.
    assert one.inference_s == three.inference_s > 0
    assert three.accelerator_s == pytest.approx(3 * one.accelerator_s)
    assert one.accelerator_s + three.accelerator_s == pytest.approx(one.inference_s)


def test_batching_changes_pixels_by_rounding_at_most(engine: InferenceEngine) -> None:
    # CPU matmul/conv kernels block differently for different batch sizes, so latents differ
    # around 1e-5 and a few pixels may round the other way: bytes are stable for the same
    # batch composition, and within a level or two of 255 across compositions.
    alone = engine.generate([make_task(request_id="x", seed=5)])[0].images[0]
    others = [make_task(request_id=f"o{i}", prompt=f"filler {i}", seed=50 + i) for i in range(3)]
    batched = engine.generate([*others, make_task(request_id="x", seed=5)])[-1].images[0]
    difference = np.abs(pixels(alone["data"]) - pixels(batched["data"]))
    assert difference.max() <= 2
    assert difference.mean() < 0.05


def test_image_i_of_a_request_uses_seed_plus_i(engine: InferenceEngine) -> None:
    [pair] = engine.generate([make_task(request_id="pair", seed=10, num_images=2)])
    singles = engine.generate(
        [make_task(request_id="s10", seed=10), make_task(request_id="s11", seed=11)]
    )
    assert [image["seed"] for image in pair.images] == [10, 11]
    assert [image["index"] for image in pair.images] == [0, 1]
    # Same composition (two images, same prompt, seeds 10 and 11): identical pixels.
    for image, single in zip(pair.images, singles, strict=True):
        assert np.array_equal(pixels(image["data"]), pixels(single.images[0]["data"]))


def test_a_random_seed_is_reported_and_reproduces_the_image(engine: InferenceEngine) -> None:
    [random] = engine.generate([make_task(seed=None, steps=4)])
    seed = random.images[0]["seed"]
    assert 0 <= seed < 2**32
    [again] = engine.generate([make_task(seed=seed, steps=4)])
    assert again.images[0]["data"] == random.images[0]["data"]


@pytest.mark.parametrize(
    ("output_format", "content_type", "pillow_format"),
    [("png", "image/png", "PNG"), ("webp", "image/webp", "WEBP"), ("jpeg", "image/jpeg", "JPEG")],
)
def test_images_come_in_the_requested_format(
    engine: InferenceEngine, output_format: str, content_type: str, pillow_format: str
) -> None:
    [result] = engine.generate([make_task(output_format=output_format, steps=2)])
    image = result.images[0]
    assert image["content_type"] == content_type
    with Image.open(io.BytesIO(image["data"])) as decoded:
        assert decoded.format == pillow_format
        assert decoded.size == (64, 64)
    assert "Seed: 123, Size: 64x64, Model: tiny-sd" in (read_parameters(image["data"]) or "")


def test_png_chunks_carry_the_generation_parameters(engine: InferenceEngine) -> None:
    task = make_task(negative_prompt="blurry", scheduler="euler_a", num_images=2, seed=40)
    [result] = engine.generate([task])
    with Image.open(io.BytesIO(result.images[1]["data"])) as image:
        text = dict(image.text)  # type: ignore[attr-defined]
    assert text["parameters"] == (
        "a lighthouse at dusk\n"
        "Negative prompt: blurry\n"
        "Steps: 10, Sampler: euler_a, CFG scale: 7.5, Seed: 41, Size: 64x64, Model: tiny-sd"
    )
    assert '"request_id":"req-1"' in text["diffstream"]
    assert '"index":1' in text["diffstream"]
    # Without a scheduler the model's own (tiny-sd: PNDM, like SD 1.5) is named.
    [default] = engine.generate([make_task(steps=2)])
    assert "Sampler: pndm" in (read_parameters(default.images[0]["data"]) or "")


def test_out_of_memory_splits_the_batch_in_halves(engine: InferenceEngine) -> None:
    calls: list[int] = []

    def fits_two_images(progress: StepProgress) -> None:
        if progress.step == 1:
            calls.append(progress.images)
            if progress.images > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")

    tasks = [
        make_task(request_id="a", seed=1, num_images=2, steps=2),
        make_task(request_id="b", seed=2, steps=2),
        make_task(request_id="c", seed=3, num_images=2, steps=2),
    ]
    results = engine.generate(tasks, progress=fits_two_images)
    # 5 images: 5 fails -> 2 + 3; 3 fails -> 1 + 2.
    assert calls == [5, 2, 3, 1, 2]
    assert [r.request_id for r in results] == ["a", "b", "c"]
    assert [[i["seed"] for i in r.images] for r in results] == [[1, 2], [2], [3, 4]]
    assert [[i["index"] for i in r.images] for r in results] == [[0, 1], [0], [0, 1]]
    assert all(r.batch_images <= 2 for r in results)
    # The same split again gives the same bytes.
    again = engine.generate(tasks, progress=fits_two_images)
    first = [i["data"] for r in results for i in r.images]
    assert [i["data"] for r in again for i in r.images] == first


def test_out_of_memory_on_one_image_evicts_other_models_then_fails(models_dir: Path) -> None:
    engine = make_engine(models_dir, max_loaded_models=2)
    tiny_path = str(models_dir / TINY_SD)
    engine.generate([make_task(model=tiny_path, steps=1)])
    assert len(engine.registry.loaded()) == 2
    calls: list[int] = []

    def never_fits(progress: StepProgress) -> None:
        calls.append(progress.images)
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")

    with pytest.raises(OutOfMemoryError, match="does not fit") as caught:
        engine.generate([make_task(request_id="a"), make_task(request_id="b")], progress=never_fits)
    # 2 -> 1 (fails, evict the other model, once more) ; the second half is never reached.
    assert calls == [2, 1, 1]
    assert engine.registry.loaded() == [(TINY_SD, None)]
    assert caught.value.code is ErrorCode.OUT_OF_MEMORY
    assert caught.value.retryable is False
    engine.close()


def test_progress_reports_each_step_and_its_errors_propagate(engine: InferenceEngine) -> None:
    seen: list[StepProgress] = []
    engine.generate(
        [make_task(request_id="a", steps=3), make_task(request_id="b", steps=3)],
        progress=seen.append,
    )
    # tiny-sd's PNDM runs one extra iteration (its PLMS warm-up): 3 steps, 4 iterations.
    assert [(p.step, p.steps) for p in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert seen[0].request_ids == ("a", "b")

    class StopNowError(Exception):
        pass

    def stop(progress: StepProgress) -> None:
        raise StopNowError

    with pytest.raises(StopNowError):
        engine.generate([make_task(steps=3)], progress=stop)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="per-thread CPU masks: Linux")
def test_model_calls_run_on_cpu_cores_and_the_caller_gets_its_mask_back(models_dir: Path) -> None:
    core = max(os.sched_getaffinity(0))
    engine = make_engine(models_dir, cpu_cores=(core,))
    before = os.sched_getaffinity(0)
    during: list[set[int]] = []
    engine.generate([make_task(steps=2)], progress=lambda _: during.append(os.sched_getaffinity(0)))
    engine.close()
    assert during, "the progress callback runs inside the model call"
    assert all(mask == {core} for mask in during)
    assert os.sched_getaffinity(0) == before


def test_cpu_cores_this_machine_lacks_are_refused_naming_the_setting(models_dir: Path) -> None:
    with pytest.raises(EngineConfigurationError, match=r"`cpu_cores` \[4095\] cannot be used"):
        make_engine(models_dir, cpu_cores=(4095,))


def test_least_recently_used_model_is_evicted_and_freed(models_dir: Path) -> None:
    engine = make_engine(models_dir, max_loaded_models=1)
    unet = weakref.ref(engine.registry.get(TINY_SD).pipeline.unet)
    assert unet() is not None
    local_directory = str(models_dir / TINY_SD)
    [result] = engine.generate([make_task(model=local_directory, steps=2)])
    assert result.model == local_directory
    assert engine.registry.loaded() == [(local_directory, None)]
    gc.collect()
    assert unet() is None, "the evicted pipeline is still referenced somewhere"
    engine.close()


def test_unknown_model_says_what_was_tried(engine: InferenceEngine, models_dir: Path) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        engine.generate([make_task(model="acme/no-such-model")])
    error = caught.value
    assert error.model == "acme/no-such-model"
    assert error.code is ErrorCode.MODEL_NOT_FOUND
    assert not error.retryable
    assert any(str(models_dir / "acme" / "no-such-model") in tried for tried in error.tried)
    assert any("local Hugging Face cache" in tried for tried in error.tried)
    assert "DIFFSTREAM_ENGINE__ALLOW_HUB_DOWNLOADS" in str(error)


def test_invalid_tasks_fail_before_any_work(engine: InferenceEngine) -> None:
    with pytest.raises(InvalidTaskError) as caught:
        engine.generate([make_task(width=65, model="never-loaded")])
    assert caught.value.parameter == "width"
    assert (("never-loaded", None)) not in engine.registry.loaded()


def test_pipeline_failures_become_retryable_inference_errors(engine: InferenceEngine) -> None:
    # DDIM refuses more steps than its training timesteps, from inside the pipeline call.
    with pytest.raises(InferenceError, match="batch of 1") as caught:
        engine.generate([make_task(scheduler="ddim", steps=1001)])
    assert caught.value.retryable
    assert caught.value.code is ErrorCode.INFERENCE_ERROR


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_every_scheduler_runs(engine: InferenceEngine, scheduler: str) -> None:
    task = make_task(scheduler=scheduler, steps=2)
    if scheduler == "lms" and importlib.util.find_spec("scipy") is None:
        with pytest.raises(InferenceError, match="scipy"):
            engine.generate([task])
        return
    [result] = engine.generate([task])
    assert f"Sampler: {scheduler}," in (read_parameters(result.images[0]["data"]) or "")


def test_generate_before_load_is_an_error(models_dir: Path) -> None:
    engine = InferenceEngine(EngineSettings(models_dir=models_dir))
    with pytest.raises(EngineNotLoadedError, match="load"):
        engine.generate([make_task()])


def test_tiny_sd_builds_the_same_weights_every_time(tmp_path: Path, models_dir: Path) -> None:
    build_tiny_sd(tmp_path / "again")

    def digests(root: Path) -> dict[str, str]:
        return {
            str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*"))
            if path.is_file()
        }

    assert digests(tmp_path / "again") == digests(models_dir / TINY_SD)
    marker = (models_dir / TINY_SD / "model_index.json").stat().st_mtime_ns
    assert ensure_tiny_sd(models_dir) == models_dir / TINY_SD
    assert (models_dir / TINY_SD / "model_index.json").stat().st_mtime_ns == marker


def test_speedups_behind_settings_keep_the_image(engine: InferenceEngine, models_dir: Path) -> None:
    # torch_compile is left out: compiling costs ~40 s on this CPU (it works: 0.10 s instead
    # of 0.16 s per image afterwards); the benchmark is the place to try it.
    tuned = make_engine(models_dir, channels_last=True, vae_tiling=True, sdpa=False)
    pipeline = tuned.registry.get(TINY_SD).pipeline
    assert pipeline.vae.use_tiling
    assert type(next(iter(pipeline.unet.attn_processors.values()))).__name__ == "AttnProcessor"
    [fast] = tuned.generate([make_task(steps=4)])
    [plain] = engine.generate([make_task(steps=4)])
    difference = np.abs(pixels(fast.images[0]["data"]) - pixels(plain.images[0]["data"]))
    assert difference.max() <= 2
    tuned.close()


@pytest.mark.parametrize("model", ["digits", "tiny-sd"])
def test_every_built_in_model_warms_up(model: str, tmp_path: Path) -> None:
    # The warm-up prompt once was text that digits cannot draw: preloading it crashed.
    engine = InferenceEngine(
        EngineSettings(device="cpu", warmup=True, preload=(model,)), home=tmp_path
    )
    engine.load()
    engine.close()
