"""Engine throughput vs a bare diffusers loop, same model, same process, same machine.

Measures images per second of tiny-sd (64x64, 10 steps by default) at each batch size,
through ``InferenceEngine.generate`` (per-image generators, PNG encoding with metadata,
sha256) and through a bare ``pipe(prompt=[...] * n, ...)`` loop on a second copy of the
same model loaded the same way. Rounds alternate between the two so that drift in machine
load hits both alike; the median round is reported.

    .venv/bin/python benchmarks/engine.py [--threads 1] [--batch-sizes 1 8] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from processors.engine import EngineSettings, GenerationTask, InferenceEngine
from processors.engine.registry import dtype_keyword
from processors.engine.tiny_sd import TINY_SD

PROMPT = "a lighthouse on a cliff at dusk, oil painting"


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--models-dir", type=Path, default=None, help="default: a temp dir")
    parser.add_argument("--threads", type=int, default=None, help="torch cpu threads")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--round-seconds", type=float, default=1.5)
    return parser.parse_args(argv)


def images_per_second(run: Callable[[], None], images: int, seconds: float) -> float:
    """Run ``run`` repeatedly for about ``seconds``; images per second over those runs."""
    calls = 0
    started = time.perf_counter()
    while True:
        run()
        calls += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return calls * images / elapsed


def bare_pipeline(engine: InferenceEngine) -> Any:
    from diffusers import StableDiffusionPipeline  # noqa: PLC0415  # after the engine's setup

    directory = engine.registry.models_dir / TINY_SD
    pipe: Any = StableDiffusionPipeline.from_pretrained(
        directory,
        local_files_only=True,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
        **{dtype_keyword(): engine.dtype},
    )
    pipe = pipe.to(engine.device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    with tempfile.TemporaryDirectory(prefix="diffstream-bench-") as scratch:
        models_dir = arguments.models_dir or Path(scratch)
        settings = EngineSettings(
            models_dir=models_dir, device=arguments.device, cpu_threads=arguments.threads
        )
        engine = InferenceEngine(settings)
        engine.load()
        pipe = bare_pipeline(engine)
        print(
            f"tiny-sd {arguments.size}x{arguments.size}, {arguments.steps} steps, "
            f"{engine.device}/{str(engine.dtype).removeprefix('torch.')}, "
            f"torch threads {torch.get_num_threads()}, median of {arguments.rounds} rounds"
        )
        print(f"{'batch':>5} {'engine img/s':>13} {'bare img/s':>11} {'engine/bare':>12}")
        results: dict[int, tuple[float, float]] = {}
        for batch in arguments.batch_sizes:
            tasks = [
                GenerationTask(
                    request_id=f"bench-{i}",
                    model=TINY_SD,
                    prompt=PROMPT,
                    width=arguments.size,
                    height=arguments.size,
                    steps=arguments.steps,
                    guidance_scale=7.5,
                    seed=i,
                )
                for i in range(batch)
            ]

            def run_engine(tasks: list[GenerationTask] = tasks) -> None:
                engine.generate(tasks)

            def run_bare(batch: int = batch) -> None:
                pipe(
                    prompt=[PROMPT] * batch,
                    num_inference_steps=arguments.steps,
                    width=arguments.size,
                    height=arguments.size,
                    guidance_scale=7.5,
                )

            run_engine()
            run_bare()
            engine_rates: list[float] = []
            bare_rates: list[float] = []
            for _ in range(arguments.rounds):
                engine_rates.append(images_per_second(run_engine, batch, arguments.round_seconds))
                bare_rates.append(images_per_second(run_bare, batch, arguments.round_seconds))
            engine_rate = statistics.median(engine_rates)
            bare_rate = statistics.median(bare_rates)
            results[batch] = (engine_rate, bare_rate)
            ratio = engine_rate / bare_rate
            print(f"{batch:>5} {engine_rate:>13.2f} {bare_rate:>11.2f} {ratio:>12.3f}")
        smallest, largest = min(results), max(results)
        if largest != smallest:
            engine_gain = results[largest][0] / results[smallest][0]
            bare_gain = results[largest][1] / results[smallest][1]
            print(
                f"batch {largest} vs {smallest}: engine x{engine_gain:.2f}, bare x{bare_gain:.2f}, "
                f"engine keeps {engine_gain / bare_gain:.1%} of the bare loop's gain"
            )
        engine.close()


if __name__ == "__main__":
    main()
