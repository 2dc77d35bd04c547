"""Encode generated images, with their generation parameters embedded as SD UIs do.

PNG: a ``parameters`` text chunk in the AUTOMATIC1111 format (what SD UIs and image
browsers read back) and a ``diffstream`` chunk with the same facts as JSON. JPEG and WebP
carry the A1111 text in EXIF UserComment, A1111's own choice for those formats.
No timestamps anywhere: equal inputs give equal bytes.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

from PIL import Image, PngImagePlugin

from processors.engine.settings import EngineSettings
from processors.engine.tasks import GenerationTask, OutputFormat

logger = logging.getLogger(__name__)

CONTENT_TYPES: dict[OutputFormat, str] = {
    "png": "image/png",
    "webp": "image/webp",
    "jpeg": "image/jpeg",
}
PARAMETERS_CHUNK = "parameters"
METADATA_CHUNK = "diffstream"
_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
# EXIF UserComment starts with an 8-byte character-code prefix; UTF-16 is "UNICODE\0".
_UNICODE_PREFIX = b"UNICODE\x00"


def a1111_parameters(task: GenerationTask, *, seed: int, sampler: str) -> str:
    """The AUTOMATIC1111 ``parameters`` text of one image."""
    lines = [task.prompt]
    if task.negative_prompt:
        lines.append(f"Negative prompt: {task.negative_prompt}")
    settings = [
        f"Steps: {task.steps}",
        f"Sampler: {sampler}",
        f"CFG scale: {task.guidance_scale:g}",
        f"Seed: {seed}",
        f"Size: {task.width}x{task.height}",
        f"Model: {task.model}",
    ]
    lines.append(", ".join(settings))
    return "\n".join(lines)


def diffstream_metadata(task: GenerationTask, *, seed: int, index: int, sampler: str) -> str:
    """The ``diffstream`` JSON of one image (sorted keys, so the bytes are stable)."""
    facts: dict[str, Any] = {
        "request_id": task.request_id,
        "index": index,
        "model": task.model,
        "revision": task.revision,
        "prompt": task.prompt,
        "negative_prompt": task.negative_prompt,
        "width": task.width,
        "height": task.height,
        "steps": task.steps,
        "guidance_scale": task.guidance_scale,
        "seed": seed,
        "scheduler": sampler,
    }
    return json.dumps(facts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def encode_image(
    image: Image.Image,
    output_format: OutputFormat,
    *,
    parameters: str,
    metadata: str,
    settings: EngineSettings,
) -> bytes:
    """``image`` encoded as ``output_format`` with the parameters embedded."""
    buffer = io.BytesIO()
    if output_format == "png":
        info = PngImagePlugin.PngInfo()
        # add_text writes tEXt (what A1111 writes) and falls back to iTXt for text that is
        # not Latin-1, so non-Latin prompts survive intact.
        info.add_text(PARAMETERS_CHUNK, parameters)
        info.add_text(METADATA_CHUNK, metadata)
        image.save(buffer, format="PNG", pnginfo=info, compress_level=settings.png_compress_level)
    elif output_format == "jpeg":
        image.convert("RGB").save(
            buffer, format="JPEG", quality=settings.jpeg_quality, exif=_exif(parameters)
        )
    else:
        image.save(buffer, format="WEBP", quality=settings.webp_quality, exif=_exif(parameters))
    return buffer.getvalue()


def read_parameters(data: bytes) -> str | None:
    """The A1111 parameters text embedded in an encoded image, if any (for tests and tools)."""
    with Image.open(io.BytesIO(data)) as image:
        if image.format == "PNG":
            text = image.info.get(PARAMETERS_CHUNK)
            return text if isinstance(text, str) else None
        comment = image.getexif().get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    if isinstance(comment, bytes) and comment.startswith(_UNICODE_PREFIX):
        return comment[len(_UNICODE_PREFIX) :].decode("utf-16-be")
    return None


def _exif(parameters: str) -> Image.Exif:
    exif = Image.Exif()
    exif.get_ifd(_EXIF_IFD)[_USER_COMMENT] = _UNICODE_PREFIX + parameters.encode("utf-16-be")
    return exif
