"""The bare loop's capacity: the engine called directly, 8 tasks a call, back to back."""

from __future__ import annotations

import time
import uuid
from typing import Any

from diffstream.settings import Settings
from infra.bench.peers.options import PeersOptions
from infra.bench.peers.systems import engine_env

BATCH = 8


def request_body(options: PeersOptions, index: int) -> dict[str, Any]:
    """Request ``index`` of a run, the same for every system (digits needs a digit)."""
    prompt = f"a handwritten {index % 10}" if options.model == "digits" else "a lighthouse"
    return {
        "prompt": prompt,
        "model": options.model,
        "width": options.side,
        "height": options.side,
        "steps": options.steps,
        "guidance_scale": options.guidance_scale,
        "seed": index,
    }


def bare_capacity(settings: Settings, options: PeersOptions) -> dict[str, Any]:
    """Images/s of ``engine.generate`` on batches of 8 for ``capacity_s`` (after one
    warm call), on an engine configured as every system's is."""
    from processors.engine import GenerationTask, InferenceEngine  # noqa: PLC0415  # torch

    env = engine_env(options.model, options.device)
    engine_settings = settings.engine.model_copy(
        update={"preload": (options.model,), "device": env["DIFFSTREAM_ENGINE__DEVICE"]}
    )
    engine = InferenceEngine(engine_settings, home=settings.home)
    engine.load()

    def batch(call: int) -> list[GenerationTask]:
        return [
            GenerationTask(request_id=str(uuid.uuid4()), **request_body(options, call * BATCH + i))
            for i in range(BATCH)
        ]

    try:
        engine.generate(batch(0))
        calls, started = 0, time.perf_counter()
        while calls < 2 or time.perf_counter() - started < options.capacity_s:
            calls += 1
            engine.generate(batch(calls))
        elapsed = time.perf_counter() - started
    finally:
        engine.close()
    return {"batch": BATCH, "calls": calls, "images_per_s": calls * BATCH / elapsed}
