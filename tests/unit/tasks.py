"""The generation task the engine's unit tests start from (no torch needed to build one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from processors.engine import GenerationTask


def make_task(**changes: Any) -> GenerationTask:
    """A small valid tiny-sd task (64x64, 10 steps, seed 123), with ``changes`` applied."""
    fields: dict[str, Any] = {
        "request_id": "req-1",
        "model": "tiny-sd",
        "prompt": "a lighthouse at dusk",
        "width": 64,
        "height": 64,
        "steps": 10,
        "guidance_scale": 7.5,
        "seed": 123,
    }
    fields.update(changes)
    return GenerationTask(**fields)


def task_maker(**defaults: Any) -> Callable[..., GenerationTask]:
    """A ``make(request_id="req-1", **changes)`` of tasks that start from ``defaults``, for a
    test module whose tasks all run one model."""

    def make(request_id: str = "req-1", **changes: Any) -> GenerationTask:
        return make_task(**{**defaults, "request_id": request_id, **changes})

    return make
