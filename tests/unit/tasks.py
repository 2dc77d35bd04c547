"""The generation task the engine's unit tests start from (no torch needed to build one)."""

from __future__ import annotations

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
