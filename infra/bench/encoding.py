"""`diffstream bench encoding`: CPU milliseconds per image of each output format and level.

Encodes the ``sim`` model's pictures (which compress like photographs, see
``processors.engine.sim_pictures``) with the engine's own ``encode_image``, metadata
chunks included, on one thread. The figure is that thread's CPU time (``thread_time``),
which a busy machine does not inflate the way it does wall time; wall time is reported
beside it. When scikit-learn is installed (the inference extra), its two sample
photographs, scaled and cropped to the same size, are encoded in the same run, and each
row gives the sim pictures' cost and size relative to theirs. No broker, no torch.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from PIL import Image
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


def photographs(side: int) -> list[Image.Image]:
    """scikit-learn's sample photographs (china.jpg, flower.jpg, 640x427) scaled to cover
    ``side`` x ``side`` and centre-cropped; none without scikit-learn."""
    try:
        from sklearn.datasets import load_sample_images  # noqa: PLC0415  # optional, heavy
    except ImportError:
        return []
    out = []
    for pixels in load_sample_images().images:
        photo = Image.fromarray(pixels)
        scale = side / min(photo.size)
        width, height = round(photo.width * scale), round(photo.height * scale)
        photo = photo.resize((width, height), Image.Resampling.LANCZOS)
        left, top = (width - side) // 2, (height - side) // 2
        out.append(photo.crop((left, top, left + side, top + side)))
    return out


def encoding_costs(
    side: int = 512, pictures: int = 4, repeats: int = 3, *, photos: bool = True
) -> dict[str, Any]:
    """Median CPU ms, wall ms and KB per image of every variant over ``pictures`` distinct
    sim pictures encoded ``repeats`` times each (and the photographs, when ``photos``)."""
    sims = [picture(seed, side, side) for seed in range(pictures)]
    references = photographs(side) if photos else []
    rows = _measure(sims, side, repeats)
    if references:
        for row, photo in zip(rows, _measure(references, side, repeats), strict=True):
            row["photo_cpu_ms"] = photo["cpu_ms"]
            row["photo_kb"] = photo["kb"]
            row["cpu_vs_photo"] = row["cpu_ms"] / photo["cpu_ms"]
            row["kb_vs_photo"] = row["kb"] / photo["kb"]
    return {
        "conditions": {
            "side": side,
            "pictures": pictures,
            "photographs": len(references),
            "repeats": repeats,
            "threads": 1,
        },
        "encodings": rows,
    }


def _measure(images: list[Image.Image], side: int, repeats: int) -> list[dict[str, Any]]:
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
    return rows


def encoding_table(report: dict[str, Any]) -> Table:
    """One row per variant: CPU ms (median, min-max), wall ms and size."""
    c = report["conditions"]
    columns = ["encoding", "CPU ms/image: median (min-max)", "wall ms", "KB"]
    if c["photographs"]:
        columns += ["photographs: CPU ms, KB", "sim / photo: CPU, KB"]
    out = Table(
        *columns,
        title=(
            f"encoding a {c['side']}x{c['side']} sim picture on one thread, "
            f"{c['pictures']} pictures x {c['repeats']} repeats"
        ),
    )
    for row in report["encodings"]:
        cells = [
            row["variant"],
            f"{row['cpu_ms']:.1f} ({row['cpu_ms_min']:.1f}-{row['cpu_ms_max']:.1f})",
            f"{row['wall_ms']:.1f}",
            f"{row['kb']:.0f}",
        ]
        if c["photographs"]:
            cells += [
                f"{row['photo_cpu_ms']:.1f}, {row['photo_kb']:.0f}",
                f"{row['cpu_vs_photo']:.2f}, {row['kb_vs_photo']:.2f}",
            ]
        out.add_row(*cells)
    return out
