"""`diffstream bench encoding`: CPU milliseconds per image of each output format and level.

Encodes the ``sim`` model's pictures (which compress like photographs, see
``processors.engine.sim_pictures``) with the engine's own ``encode_image``, metadata
chunks included, on one thread. The figure is that thread's CPU time (``thread_time``),
which a busy machine does not inflate the way it does wall time; wall time is reported
beside it. No broker, no torch.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from processors.engine.encoding import a1111_parameters, diffstream_metadata, encode_image
from processors.engine.settings import EngineSettings
from processors.engine.sim_pictures import picture
from processors.engine.tasks import GenerationTask, OutputFormat

PNG_LEVELS = (0, 1, 3, 6, 9)


@dataclass(frozen=True, slots=True)
class Variant:
    """One output format with its setting."""

    label: str
    output_format: OutputFormat
    settings: EngineSettings


def variants(base: EngineSettings | None = None) -> list[Variant]:
    """PNG at every level in ``PNG_LEVELS``, WebP and JPEG at the engine's default quality."""
    base = base or EngineSettings()
    out = [
        Variant(f"png level {level}", "png", base.model_copy(update={"png_compress_level": level}))
        for level in PNG_LEVELS
    ]
    out.append(Variant(f"webp quality {base.webp_quality}", "webp", base))
    out.append(Variant(f"jpeg quality {base.jpeg_quality}", "jpeg", base))
    return out


def encoding_costs(side: int = 512, pictures: int = 4, repeats: int = 3) -> dict[str, Any]:
    """Median CPU ms, wall ms and KB per image of every variant over ``pictures`` distinct
    pictures encoded ``repeats`` times each."""
    images = [picture(seed, side, side) for seed in range(pictures)]
    task = GenerationTask(
        request_id="bench-encoding",
        model="sim",
        prompt="a lighthouse on a cliff at dusk, oil painting",
        width=side,
        height=side,
        steps=20,
        guidance_scale=7.5,
        seed=0,
    )
    parameters = a1111_parameters(task, seed=0, sampler="pndm")
    metadata = diffstream_metadata(task, seed=0, index=0, sampler="pndm")
    rows: list[dict[str, Any]] = []
    for variant in variants():
        cpu_ms: list[float] = []
        wall_ms: list[float] = []
        sizes: list[int] = []
        for _ in range(repeats):
            for image in images:
                wall, cpu = time.perf_counter(), time.thread_time()
                data = encode_image(
                    image,
                    variant.output_format,
                    parameters=parameters,
                    metadata=metadata,
                    settings=variant.settings,
                )
                cpu_ms.append(1000 * (time.thread_time() - cpu))
                wall_ms.append(1000 * (time.perf_counter() - wall))
                sizes.append(len(data))
        rows.append(
            {
                "variant": variant.label,
                "format": variant.output_format,
                "cpu_ms": statistics.median(cpu_ms),
                "cpu_ms_min": min(cpu_ms),
                "cpu_ms_max": max(cpu_ms),
                "wall_ms": statistics.median(wall_ms),
                "kb": statistics.median(sizes) / 1024,
            }
        )
    return {
        "conditions": {"side": side, "pictures": pictures, "repeats": repeats, "threads": 1},
        "encodings": rows,
    }


def encoding_table(report: dict[str, Any]) -> Table:
    """One row per variant: CPU ms (median, min-max), wall ms and size."""
    c = report["conditions"]
    out = Table(
        "encoding",
        "CPU ms/image: median (min-max)",
        "wall ms",
        "KB",
        title=(
            f"encoding a {c['side']}x{c['side']} sim picture on one thread, "
            f"{c['pictures']} pictures x {c['repeats']} repeats"
        ),
    )
    for row in report["encodings"]:
        out.add_row(
            row["variant"],
            f"{row['cpu_ms']:.1f} ({row['cpu_ms_min']:.1f}-{row['cpu_ms_max']:.1f})",
            f"{row['wall_ms']:.1f}",
            f"{row['kb']:.0f}",
        )
    return out
