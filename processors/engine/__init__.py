"""The inference engine: models, devices, batches of tasks in, encoded images out. No Kafka.

``InferenceEngine`` (which imports torch and diffusers) is imported on first use, so that
the settings, tasks and ``batch_key`` are importable without the inference extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from processors.engine.results import ProgressCallback, StepProgress, TaskResult
from processors.engine.settings import EngineSettings
from processors.engine.tasks import (
    BatchKey,
    GenerationTask,
    batch_key,
    check_batch,
    check_task,
    image_seed,
)
from schemas.schedulers import SCHEDULERS

if TYPE_CHECKING:
    from processors.engine.engine import InferenceEngine

__all__ = [
    "SCHEDULERS",
    "BatchKey",
    "EngineSettings",
    "GenerationTask",
    "InferenceEngine",
    "ProgressCallback",
    "StepProgress",
    "TaskResult",
    "batch_key",
    "check_batch",
    "check_task",
    "image_seed",
]


def __getattr__(name: str) -> object:
    if name == "InferenceEngine":
        from processors.engine.engine import InferenceEngine  # noqa: PLC0415  # torch on demand

        return InferenceEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
