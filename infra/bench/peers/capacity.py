"""The bare loop's capacity: the engine called directly, 8 tasks a call, back to back."""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

from diffstream.settings import Settings
from infra.bench.peers.options import PeersOptions

BATCH = 8
MIN_CALLS = 3


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
    """Images/s of ``engine.generate`` on batches of 8, called back to back for
    ``capacity_s`` (at least 3 calls, after one warm call), on an engine configured as every
    system's is: 8 over the median call's seconds."""
    from processors.engine import GenerationTask, InferenceEngine  # noqa: PLC0415  # torch

    engine_settings = settings.engine.model_copy(
        update={
            "preload": (options.model,),
            "device": options.device,
            "cpu_threads": options.cpu_threads,
            "cpu_cores": options.model_cores,
        }
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
        seconds: list[float] = []
        started = time.perf_counter()
        while len(seconds) < MIN_CALLS or time.perf_counter() - started < options.capacity_s:
            call = time.perf_counter()
            engine.generate(batch(len(seconds) + 1))
            seconds.append(time.perf_counter() - call)
    finally:
        engine.close()
    # The median call: one call slowed by another program on a shared machine moves it little.
    return {
        "batch": BATCH,
        "calls": len(seconds),
        "images_per_s": BATCH / statistics.median(seconds),
        "mean_images_per_s": BATCH * len(seconds) / sum(seconds),
    }
