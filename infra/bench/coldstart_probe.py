"""One model's cold start, measured in a fresh interpreter (``python -m`` this module):
imports, engine, then the first request (the model's code imported, pulled unless the cache
directory has it, loaded, run), then the same request with the model loaded. Prints one JSON
object; ``infra.bench.coldstart`` runs it twice (empty cache, then filled) and reads it."""

from __future__ import annotations

import json
import sys
import time

STARTED = time.perf_counter()


def main(model: str, revision: str, side: int, steps: int) -> dict[str, float]:
    """The timings of one model, in seconds."""
    from diffstream.settings import Settings  # noqa: PLC0415  # timed: the imports
    from processors.engine import EngineSettings, GenerationTask, InferenceEngine  # noqa: PLC0415
    from processors.serve import quiet_model_libraries  # noqa: PLC0415
    from processors.store.source import StoreModels  # noqa: PLC0415

    imported = time.perf_counter()
    quiet_model_libraries()
    settings = Settings()  # the cache directory is the caller's (empty) one
    engine = InferenceEngine(EngineSettings(device="cpu", preload=(), warmup=False))
    engine.load()
    engine_ready = time.perf_counter()
    models = StoreModels(settings)
    task = GenerationTask(
        request_id="coldstart",
        model=model,
        revision=revision,
        prompt="a handwritten 7",
        width=side,
        height=side,
        steps=steps,
        guidance_scale=7.5,
        seed=0,
    )

    def request() -> float:
        began = time.perf_counter()
        engine.generate([task], locator=models)
        return time.perf_counter() - began

    first = request()
    loaded = min(request() for _ in range(3))
    return {
        "imports_s": imported - STARTED,
        "engine_s": engine_ready - imported,
        "first_request_s": first,
        "request_loaded_s": loaded,
        "cache_bytes": float(models.cache.size_bytes()),
    }


if __name__ == "__main__":
    name, rev, size, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(main(name, rev, size, n)))
