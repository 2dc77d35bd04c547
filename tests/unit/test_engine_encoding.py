"""Image encoding: formats, A1111 parameters and diffstream chunks, stable bytes."""

from __future__ import annotations

import io
import json

import pytest

pytest.importorskip("PIL", reason="Pillow comes with the inference extra")

from PIL import Image

from processors.engine import EngineSettings, GenerationTask
from processors.engine.encoding import (
    a1111_parameters,
    diffstream_metadata,
    encode_image,
    read_parameters,
)
from processors.engine.tasks import OutputFormat
from tests.unit.tasks import make_task

TASK = make_task(prompt="a lighthouse, ünïcode ☃", negative_prompt="blurry")


def gradient() -> Image.Image:
    image = Image.new("RGB", (64, 64))
    image.putdata([(x * 4, y * 4, (x + y) * 2) for y in range(64) for x in range(64)])
    return image


def encode(output_format: OutputFormat, task: GenerationTask = TASK) -> bytes:
    return encode_image(
        gradient(),
        output_format,
        parameters=a1111_parameters(task, seed=123, sampler="euler"),
        metadata=diffstream_metadata(task, seed=123, index=0, sampler="euler"),
        settings=EngineSettings(),
    )


def test_parameters_follow_the_a1111_format() -> None:
    assert a1111_parameters(TASK, seed=123, sampler="euler") == (
        "a lighthouse, ünïcode ☃\n"
        "Negative prompt: blurry\n"
        "Steps: 10, Sampler: euler, CFG scale: 7.5, Seed: 123, Size: 64x64, Model: tiny-sd"
    )
    plain = GenerationTask(
        request_id="r", model="m", prompt="p", width=64, height=128, steps=4, guidance_scale=7
    )
    assert a1111_parameters(plain, seed=5, sampler="pndm") == (
        "p\nSteps: 4, Sampler: pndm, CFG scale: 7, Seed: 5, Size: 64x128, Model: m"
    )


def test_png_carries_parameters_and_diffstream_chunks_readable_by_pillow() -> None:
    data = encode("png")
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert image.size == (64, 64)
        text = dict(image.text)  # type: ignore[attr-defined]
    assert text["parameters"] == a1111_parameters(TASK, seed=123, sampler="euler")
    facts = json.loads(text["diffstream"])
    assert facts["request_id"] == "req-1"
    assert facts["seed"] == 123
    assert facts["model"] == "tiny-sd"
    assert facts["prompt"] == TASK.prompt
    assert facts["scheduler"] == "euler"
    assert read_parameters(data) == text["parameters"]


@pytest.mark.parametrize(
    ("output_format", "pillow_format"), [("png", "PNG"), ("webp", "WEBP"), ("jpeg", "JPEG")]
)
def test_each_format_encodes_and_embeds_parameters(
    output_format: OutputFormat, pillow_format: str
) -> None:
    data = encode(output_format)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == pillow_format
        assert image.size == (64, 64)
    assert read_parameters(data) == a1111_parameters(TASK, seed=123, sampler="euler")


@pytest.mark.parametrize("output_format", ["png", "webp", "jpeg"])
def test_same_inputs_give_same_bytes(output_format: OutputFormat) -> None:
    assert encode(output_format) == encode(output_format)
