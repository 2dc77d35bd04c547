"""The ``digits`` model on the CPU: it draws the digit each prompt asks for.

A classifier trained on the same scikit-learn digits reads back what the model drew; no
service is needed, and the model is loaded through the engine's registry like any other.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

pytest.importorskip("sklearn", reason="the digits model needs the inference extra")

import numpy as np
from PIL import Image
from safetensors.torch import load_file

from processors.engine import EngineSettings, GenerationTask, InferenceEngine
from processors.engine.digits import PACKAGED_WEIGHTS
from processors.engine.digits.plan import TrainingPlan
from processors.engine.digits.reading import read_digit
from processors.engine.digits.train import train_digits_model
from schemas.prompts import DIGIT_WORDS, DIGITS_MODEL
from tests.unit.tasks import make_task

PER_DIGIT = 10
REQUIRED_ACCURACY = 0.8


def _task(digit: int, index: int, prompt: str) -> GenerationTask:
    return GenerationTask(
        request_id=f"{digit}-{index}",
        model=DIGITS_MODEL,
        prompt=prompt,
        width=32,
        height=32,
        steps=20,
        guidance_scale=7.5,  # what a request gets when it says nothing
        seed=1000 * digit + index,
    )


def test_it_draws_what_the_prompt_asks(engine: InferenceEngine) -> None:
    asked: list[int] = []
    seen: list[int] = []
    for digit in range(10):
        # The three ways of asking, mixed in one batch.
        prompts = [str(digit), DIGIT_WORDS[digit], f"a handwritten {digit}"]
        tasks = [_task(digit, i, prompts[i % len(prompts)]) for i in range(PER_DIGIT)]
        for result in engine.generate(tasks):
            image = Image.open(io.BytesIO(result.images[0]["data"]))
            seen.append(read_digit(image))
            asked.append(digit)
    accuracy = float(np.mean(np.array(asked) == np.array(seen)))
    print(f"digits recognised: {accuracy:.0%} of {len(asked)}")
    assert accuracy >= REQUIRED_ACCURACY, list(zip(asked, seen, strict=True))


def test_images_are_ink_on_paper_at_the_requested_size(engine: InferenceEngine) -> None:
    task = make_task(
        request_id="size", model=DIGITS_MODEL, prompt="seven", height=48, guidance_scale=2.0, seed=7
    )
    image = Image.open(io.BytesIO(engine.generate([task])[0].images[0]["data"])).convert("L")
    assert image.size == (64, 48)
    grey = np.asarray(image)
    # Mostly white paper, with some dark ink.
    assert np.median(grey) > 200
    assert grey.min() < 100


def test_a_retrained_copy_in_the_models_directory_is_served(tmp_path: Path) -> None:
    plan = TrainingPlan(steps=3, batch_size=8, warmup_steps=1)
    out = tmp_path / "models" / DIGITS_MODEL
    report = train_digits_model(out, plan)
    assert len(report.loss_curve) == 3
    assert "Loss curve" in (out / "README.md").read_text()
    # The same plan gives the same weights, byte for byte.
    again = train_digits_model(tmp_path / "again", plan)
    weights = Path("unet") / "diffusion_pytorch_model.safetensors"
    assert (out / weights).read_bytes() == (tmp_path / "again" / weights).read_bytes()
    assert again.loss_curve == report.loss_curve
    engine = InferenceEngine(EngineSettings(device="cpu", warmup=False), home=tmp_path)
    engine.load()
    # The engine's models directory is home/models; the retrained weights win over the
    # committed ones.
    unet = engine.registry.get(DIGITS_MODEL).pipeline.unet
    trained = load_file(out / "unet" / "diffusion_pytorch_model.safetensors")
    committed = load_file(PACKAGED_WEIGHTS / "unet" / "diffusion_pytorch_model.safetensors")
    name = "conv_in.weight"
    assert unet.state_dict()[name].equal(trained[name])
    assert not trained[name].equal(committed[name])
