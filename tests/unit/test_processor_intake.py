"""What a processor decides about each request before any GPU time, and how it batches."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from confluent_kafka import Message

from diffstream.request_limits import RequestLimits
from processors.engine.tasks import GenerationTask
from processors.intake import Admitted, Refused, Undecodable, admit
from processors.passes import plan_passes
from schemas.builders import new_request, now_millis
from schemas.codec import Codec
from schemas.events import EventName, RequestState

CODEC = Codec.without_registry()
SMALL: dict[str, Any] = {"width": 64, "height": 64, "steps": 2, "guidance_scale": 5.0}


def _message(value: bytes, offset: int = 7) -> Message:
    return Message(topic="diffusion.requests", partition=2, offset=offset, key=b"k", value=value)


def _admit(request: dict[str, Any], cancelled: frozenset[str] = frozenset()) -> object:
    value = CODEC.encode(EventName.REQUEST, request)
    return admit(
        _message(value), codec=CODEC, limits=RequestLimits(), is_cancelled=cancelled.__contains__
    )


def test_a_valid_request_becomes_a_task_with_its_coordinates() -> None:
    request = new_request("a cat", seed=3, **SMALL)
    outcome = _admit(request)
    assert isinstance(outcome, Admitted)
    assert outcome.task.request_id == str(request["request_id"])
    assert outcome.task.seed == 3
    assert outcome.source == {"topic": "diffusion.requests", "partition": 2, "offset": 7}


def test_undecodable_bytes_become_a_dead_letter_naming_where_they_were() -> None:
    outcome = admit(
        _message(b"\x00garbage"),
        codec=CODEC,
        limits=RequestLimits(),
        is_cancelled=lambda _: False,
    )
    assert isinstance(outcome, Undecodable)
    assert "diffusion.requests[2]@7" in str(outcome.error)


@pytest.mark.parametrize(
    ("overrides", "code", "state", "mentions"),
    [
        ({"width": 70}, "invalid_request", RequestState.FAILED, "width"),
        ({"steps": 10_000}, "invalid_request", RequestState.FAILED, "steps"),
        ({"scheduler": "warp-drive"}, "invalid_request", RequestState.FAILED, "scheduler"),
    ],
)
def test_invalid_requests_are_refused_with_the_field(
    overrides: dict[str, Any], code: str, state: RequestState, mentions: str
) -> None:
    outcome = _admit(new_request("x", **{**SMALL, **overrides}))
    assert isinstance(outcome, Refused)
    assert outcome.failed["error_code"] == code
    assert outcome.state is state
    assert mentions in outcome.failed["message"]
    assert outcome.failed["source"]["offset"] == 7


def test_an_expired_request_is_refused_without_gpu_time() -> None:
    late = new_request("late", deadline=now_millis() - timedelta(seconds=5), **SMALL)
    outcome = _admit(late)
    assert isinstance(outcome, Refused)
    assert outcome.failed["error_code"] == "expired"
    assert outcome.failed["retryable"] is False


def test_a_cancelled_request_is_refused() -> None:
    request = new_request("cancel me", **SMALL)
    outcome = _admit(request, frozenset({str(request["request_id"])}))
    assert isinstance(outcome, Refused)
    assert outcome.failed["error_code"] == "cancelled"
    assert outcome.state is RequestState.CANCELLED


def _task(i: int, **overrides: Any) -> GenerationTask:
    fields: dict[str, Any] = {
        "request_id": f"r{i}",
        "model": "tiny-sd",
        "prompt": "p",
        **SMALL,
        **overrides,
    }
    return GenerationTask(**fields)


def test_passes_group_by_batch_key_and_cap_images() -> None:
    tasks = [
        _task(0),
        _task(1, width=128, height=128),
        _task(2),
        _task(3, num_images=3),
        _task(4),
        _task(5),
    ]
    passes = plan_passes(tasks, max_images=4)
    assert passes == [[0, 2], [1], [3, 4], [5]]


def test_a_request_larger_than_a_pass_gets_its_own() -> None:
    assert plan_passes([_task(0, num_images=6), _task(1)], max_images=4) == [[0], [1]]
