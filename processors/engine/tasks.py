"""What the engine is asked to do: a generation task, its checks, and its batch key.

Torch-free on purpose, so that the processor's micro-batcher can group tasks by
``batch_key`` without importing the inference stack.

Seeds: image ``i`` of a task whose seed is ``s`` is generated with seed ``(s + i) % 2**63``
(the modulo keeps every reported seed a non-negative Avro long). A task without a seed gets
a random base seed below 2**32 (as SD UIs do, easy to type back in), and the seed used for
every image is reported in the result.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from processors.exceptions import InvalidBatchError, InvalidTaskError
from schemas.schedulers import SCHEDULERS

logger = logging.getLogger(__name__)

OutputFormat = Literal["png", "webp", "jpeg"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("png", "webp", "jpeg")
SEED_MODULUS = 2**63
RANDOM_SEED_BOUND = 2**32
# The VAE of every Stable Diffusion family model downsamples by 8 (diffusers' check_inputs).
SIDE_MULTIPLE = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationTask:
    """One request's worth of images; fields mirror GenerationRequest."""

    request_id: str
    model: str
    prompt: str
    width: int
    height: int
    steps: int
    guidance_scale: float
    negative_prompt: str | None = None
    seed: int | None = None
    num_images: int = 1
    scheduler: str | None = None  # None keeps the model's own scheduler
    output_format: OutputFormat = "png"
    revision: str | None = None

    @classmethod
    def from_request(cls, record: Mapping[str, object]) -> GenerationTask:
        """The task of a decoded GenerationRequest record (extra fields are ignored)."""
        fields = {name: record[name] for name in _TASK_FIELDS if name in record}
        output_format = fields.get("output_format")
        if output_format is not None and not isinstance(output_format, str):
            # An Avro enum may decode as a StrEnum or similar; the task holds plain strings.
            fields["output_format"] = str(output_format)
        return cls(**fields)  # type: ignore[arg-type]  # types are checked by check_task


_TASK_FIELDS = tuple(GenerationTask.__dataclass_fields__)


class BatchKey(NamedTuple):
    """What tasks must share to run in one pipeline call."""

    model: str
    revision: str | None
    width: int
    height: int
    steps: int
    guidance_scale: float
    scheduler: str | None


def batch_key(task: GenerationTask) -> BatchKey:
    """Tasks with equal keys can share one forward pass.

    Prompts, negative prompts, seeds, image counts and output formats may differ within a
    batch: diffusers takes them per image. Everything that shapes the denoising loop as a
    whole (model, size, steps, guidance, scheduler) must match.
    """
    return BatchKey(
        model=task.model,
        revision=task.revision,
        width=task.width,
        height=task.height,
        steps=task.steps,
        guidance_scale=float(task.guidance_scale),
        scheduler=task.scheduler,
    )


def check_task(task: GenerationTask) -> None:
    """Raise ``InvalidTaskError`` naming the first parameter that breaks a rule, and the fix."""
    rid = task.request_id if isinstance(task.request_id, str) else None
    problems = _problems(task)
    if problems:
        parameter, message = problems[0]
        raise InvalidTaskError(parameter, message, request_id=rid)


def check_batch(tasks: Sequence[GenerationTask]) -> BatchKey:
    """Check every task and that all share one batch key; returns that key."""
    if not tasks:
        raise InvalidBatchError("`tasks` is empty: pass at least one GenerationTask")
    for task in tasks:
        check_task(task)
    key = batch_key(tasks[0])
    for task in tasks[1:]:
        if batch_key(task) != key:
            raise InvalidBatchError(
                f"request {task.request_id} has batch key {batch_key(task)}, but request "
                f"{tasks[0].request_id} has {key}: group tasks by batch_key() before generate()"
            )
    ids = [task.request_id for task in tasks]
    if len(set(ids)) != len(ids):
        raise InvalidBatchError("`tasks` repeats a request_id: results are keyed by request_id")
    return key


def resolve_seed(task: GenerationTask) -> int:
    """The task's base seed, or a fresh random one when it has none."""
    return task.seed if task.seed is not None else secrets.randbelow(RANDOM_SEED_BOUND)


def image_seed(base_seed: int, index: int) -> int:
    """The seed of image ``index`` of a task whose base seed is ``base_seed``."""
    return (base_seed + index) % SEED_MODULUS


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _problems(task: GenerationTask) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for name in ("request_id", "model"):
        value = getattr(task, name)
        if not isinstance(value, str) or not value.strip():
            problems.append((name, f"must be a non-empty string, got {value!r}"))
    if not isinstance(task.prompt, str):
        problems.append(("prompt", f"must be a string, got {type(task.prompt).__name__}"))
    if task.negative_prompt is not None and not isinstance(task.negative_prompt, str):
        problems.append(
            ("negative_prompt", f"must be a string or None, got {type(task.negative_prompt)}")
        )
    for name in ("width", "height"):
        value = getattr(task, name)
        if not _is_int(value) or value <= 0 or value % SIDE_MULTIPLE:
            fix = ""
            if _is_int(value) and value > 0:
                low = max(SIDE_MULTIPLE, value - value % SIDE_MULTIPLE)
                fix = f": use {low} or {low + SIDE_MULTIPLE}"
            problems.append(
                (name, f"must be a positive multiple of {SIDE_MULTIPLE}, got {value!r}{fix}")
            )
    if not _is_int(task.steps) or task.steps < 1:
        problems.append(("steps", f"must be an integer >= 1, got {task.steps!r}"))
    guidance = task.guidance_scale
    if (
        not isinstance(guidance, int | float)
        or isinstance(guidance, bool)
        or not math.isfinite(guidance)
        or guidance < 0
    ):
        problems.append(("guidance_scale", f"must be a finite number >= 0, got {guidance!r}"))
    if task.seed is not None and (not _is_int(task.seed) or not 0 <= task.seed < SEED_MODULUS):
        problems.append(
            ("seed", f"must be None or an integer in [0, 2**63 - 1], got {task.seed!r}")
        )
    if not _is_int(task.num_images) or task.num_images < 1:
        problems.append(("num_images", f"must be an integer >= 1, got {task.num_images!r}"))
    if task.scheduler is not None and task.scheduler not in SCHEDULERS:
        names = ", ".join(sorted(SCHEDULERS))
        problems.append(
            ("scheduler", f"is {task.scheduler!r}; use None (the model's own) or one of {names}")
        )
    if task.output_format not in OUTPUT_FORMATS:
        problems.append(
            ("output_format", f"is {task.output_format!r}; use one of {', '.join(OUTPUT_FORMATS)}")
        )
    if task.revision is not None and (not isinstance(task.revision, str) or not task.revision):
        problems.append(("revision", f"must be None or a non-empty string, got {task.revision!r}"))
    return problems
