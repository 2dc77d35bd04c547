"""Generation tasks: input checks that name the parameter, batch keys, seeds. No torch."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from diffstream.request_limits import RequestLimits
from processors.engine import (
    SCHEDULERS,
    EngineSettings,
    GenerationTask,
    batch_key,
    check_batch,
    check_task,
    image_seed,
)
from processors.engine.tasks import resolve_seed
from processors.exceptions import InvalidBatchError, InvalidTaskError
from schemas.builders import new_request
from schemas.events import ErrorCode
from schemas.validation import validate_request
from tests.unit.tasks import make_task


def test_a_valid_task_passes() -> None:
    check_task(make_task())
    check_task(make_task(seed=None, scheduler="euler_a", output_format="webp", num_images=4))


@pytest.mark.parametrize(
    ("parameter", "value", "hint"),
    [
        ("width", 65, "use 64 or 72"),
        ("height", 0, "positive multiple of 8"),
        ("width", True, "positive multiple of 8"),
        ("steps", 0, ">= 1"),
        ("guidance_scale", float("nan"), "finite"),
        ("guidance_scale", -1.0, ">= 0"),
        ("seed", -5, "[0, 2**63 - 1]"),
        ("seed", 2**63, "[0, 2**63 - 1]"),
        ("num_images", 0, ">= 1"),
        ("scheduler", "euler-a", "euler_a"),
        ("output_format", "gif", "png, webp, jpeg"),
        ("prompt", None, "must be a string"),
        ("negative_prompt", 3, "string or None"),
        ("model", "", "non-empty"),
        ("request_id", " ", "non-empty"),
        ("revision", "", "non-empty"),
    ],
)
def test_invalid_inputs_name_the_parameter_and_the_fix(
    parameter: str, value: object, hint: str
) -> None:
    with pytest.raises(InvalidTaskError) as caught:
        check_task(make_task(**{parameter: value}))
    error = caught.value
    assert error.parameter == parameter
    assert f"`{parameter}`" in str(error)
    assert hint in str(error)
    assert error.code is ErrorCode.INVALID_REQUEST
    assert not error.retryable
    assert isinstance(error, ValueError)  # diffusers' check_inputs raises ValueError too


def test_batch_key_groups_what_can_share_a_forward_pass() -> None:
    base = make_task()
    shareable = [
        make_task(request_id="other", prompt="a different prompt"),
        make_task(negative_prompt="blurry"),
        make_task(seed=None),
        make_task(num_images=3),
        make_task(output_format="jpeg"),
        make_task(guidance_scale=7.5),
    ]
    for task in shareable:
        assert batch_key(task) == batch_key(base)
    separate = [
        make_task(model="other-model"),
        make_task(revision="main"),
        make_task(width=128),
        make_task(height=128),
        make_task(steps=20),
        make_task(guidance_scale=5.0),
        make_task(scheduler="euler"),
    ]
    for task in separate:
        assert batch_key(task) != batch_key(base)
    assert hash(batch_key(base)) == hash(batch_key(make_task(guidance_scale=7.5)))


def test_check_batch_refuses_mixed_keys_empty_batches_and_repeated_ids() -> None:
    assert check_batch([make_task(), make_task(request_id="req-2")]) == batch_key(make_task())
    with pytest.raises(InvalidBatchError, match="batch_key"):
        check_batch([make_task(), make_task(request_id="req-2", steps=20)])
    with pytest.raises(InvalidBatchError, match="empty"):
        check_batch([])
    with pytest.raises(InvalidBatchError, match="request_id"):
        check_batch([make_task(), make_task()])
    with pytest.raises(InvalidTaskError, match="req-2"):
        check_batch([make_task(), make_task(request_id="req-2", width=7)])


def test_seed_rule_counts_up_from_the_task_seed_and_wraps_into_a_long() -> None:
    assert [image_seed(100, i) for i in range(3)] == [100, 101, 102]
    assert image_seed(2**63 - 1, 1) == 0
    assert resolve_seed(make_task(seed=7)) == 7
    randoms = {resolve_seed(make_task(seed=None)) for _ in range(20)}
    assert len(randoms) > 1
    assert all(0 <= seed < 2**32 for seed in randoms)


def test_from_request_reads_a_decoded_generation_request() -> None:
    record = {
        "request_id": "3f0c6c6e-4d7a-4a57-9a55-8f1f9a0b6b10",
        "submitted_at": 1_700_000_000_000,
        "model": "tiny-sd",
        "revision": None,
        "prompt": "a red fox",
        "negative_prompt": None,
        "width": 64,
        "height": 64,
        "steps": 10,
        "guidance_scale": 7.5,
        "seed": None,
        "num_images": 2,
        "scheduler": "euler",
        "output_format": "webp",
        "lane": "interactive",
        "labels": {},
    }
    task = GenerationTask.from_request(record)
    assert task.request_id == record["request_id"]
    assert task.num_images == 2
    assert task.output_format == "webp"
    check_task(task)


def test_every_scheduler_of_the_one_table_passes_validation_and_the_engine() -> None:
    for name in SCHEDULERS:
        assert validate_request(new_request("x", scheduler=name), RequestLimits()) == []
        check_task(make_task(scheduler=name))
    assert validate_request(new_request("x", scheduler="dpmpp_3m"), RequestLimits())


def test_tasks_and_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        make_task().seed = 1  # type: ignore[misc]
    settings = EngineSettings()
    with pytest.raises(ValueError, match="frozen"):
        settings.device = "cpu"  # type: ignore[misc]
    assert not settings.allow_hub_downloads
    assert settings.models_path(Path("/srv/ds")) == Path("/srv/ds/models")
    assert EngineSettings(models_dir=Path("/m")).models_path(Path("/srv/ds")) == Path("/m")


def test_tasks_batch_keys_and_settings_import_without_torch() -> None:
    code = (
        "import sys, processors.engine as e; e.batch_key; e.EngineSettings; "
        "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
