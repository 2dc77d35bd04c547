"""The inference engine: ``load()`` once, ``generate(tasks)`` many times. No Kafka here.

One ``generate`` call runs the tasks of one batch key through a single pipeline call,
with one ``torch.Generator`` per image (see ``processors.engine.tasks`` for the seed rule),
so an image depends on its own request and seed, not on what it was batched with.
Generators live on the CPU, as in SD UIs' default: the starting noise of a seed is then the
same on every device. The engine is thread-safe but serial: calls take turns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from diffstream.settings import Settings
from processors.engine.cores import checked_cores, on_cores
from processors.engine.devices import free_device_memory, resolve_device, resolve_dtype
from processors.engine.drawn import DrawnImage, DrawnTask, encode_drawn
from processors.engine.registry import LoadedModel, ModelLocator, ModelRegistry
from processors.engine.results import ProgressCallback, StepProgress, TaskResult
from processors.engine.schedulers import scheduler_label
from processors.engine.settings import EngineSettings
from processors.engine.speedups import denoiser_of
from processors.engine.splitting import run_splitting_on_oom
from processors.engine.tasks import (
    BatchKey,
    GenerationTask,
    batch_key,
    check_batch,
    image_seed,
    resolve_seed,
)
from processors.exceptions import (
    EngineConfigurationError,
    EngineNotLoadedError,
    InferenceError,
    InvalidTaskError,
    OutOfMemoryError,
)

logger = logging.getLogger(__name__)

WARMUP_STEPS = 2
# A prompt every built-in model can draw (digits takes only a digit; a text model takes it too).
WARMUP_PROMPT = "a handwritten 7"
# For pipelines whose config does not say their native size.
DEFAULT_WARMUP_SIDE = 512


@dataclass(frozen=True, slots=True)
class _ImageJob:
    """One image of one task: the unit a pipeline call batches and an OOM split halves."""

    task_index: int
    image_index: int
    prompt: str
    negative_prompt: str
    seed: int
    request_id: str


@dataclass(frozen=True, slots=True)
class _CallOutput:
    images: list[Image.Image]
    seconds: float


class _ProgressCallbackError(Exception):
    """Carries an exception raised by the caller's progress callback through diffusers."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class InferenceEngine:
    """Generates images for batches of tasks on one device."""

    def __init__(self, settings: EngineSettings | None = None, *, home: Path | None = None) -> None:
        self.settings = settings or EngineSettings()
        self._home = home
        self._lock = threading.Lock()
        self._registry: ModelRegistry | None = None
        self._device: torch.device | None = None
        self._dtype: torch.dtype | None = None
        self._cores: frozenset[int] | None = None
        self._pool_lock = threading.Lock()
        self._encoders: ThreadPoolExecutor | None = None

    @property
    def device(self) -> torch.device:
        """The device models run on (known after ``load``)."""
        if self._device is None:
            raise EngineNotLoadedError("the engine has no device yet: call load() first")
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype models are loaded in (known after ``load``)."""
        if self._dtype is None:
            raise EngineNotLoadedError("the engine has no dtype yet: call load() first")
        return self._dtype

    @property
    def registry(self) -> ModelRegistry:
        """The loaded models (after ``load``)."""
        if self._registry is None:
            raise EngineNotLoadedError("the engine is not loaded: call load() first")
        return self._registry

    @property
    def loaded(self) -> bool:
        """Whether ``load`` has run."""
        return self._registry is not None

    def on_model_cores(self) -> AbstractContextManager[None]:
        """The block with the calling thread on the model's cores (``cpu_cores``), where
        every model call runs; the whole machine where none are set."""
        return on_cores(self._cores)

    def load(self, locator: ModelLocator | None = None) -> None:
        """Pick the device and dtype, load the preloaded models and warm them up (the
        revision ``locator`` pins each to, from it). Idempotent."""
        with self._lock:
            if self._registry is not None:
                return
            settings = self.settings
            device = resolve_device(settings.device)
            dtype = resolve_dtype(settings.dtype, device)
            for name in ("cpu_threads", "cpu_cores"):
                if getattr(settings, name) is not None and device.type != "cpu":
                    raise EngineConfigurationError(
                        f"`{name}` only applies to device cpu, not {device.type}: unset "
                        f"DIFFSTREAM_ENGINE__{name.upper()}"
                    )
            if settings.cpu_threads is not None:
                torch.set_num_threads(settings.cpu_threads)
            self._cores = checked_cores(settings.cpu_cores)
            home = self._home if self._home is not None else Settings().home
            models_dir = settings.models_path(home)
            self._registry = ModelRegistry(
                settings, models_dir=models_dir, device=device, dtype=dtype
            )
            self._device, self._dtype = device, dtype
            logger.info("engine on %s/%s, models in %s", device, dtype, models_dir)
            for name in settings.preload:
                revision = locator.pin(name, None) if locator is not None else None
                loaded = self._registry.get(name, revision, locator)
                if settings.warmup:
                    self._warm_up(loaded)

    def close(self) -> None:
        """Unload every model; ``load`` may be called again afterwards."""
        with self._lock:
            if self._registry is not None:
                self._registry.clear()
            self._registry = None
        with self._pool_lock:
            if self._encoders is not None:
                self._encoders.shutdown(wait=True)
            self._encoders = None

    def generate(
        self,
        tasks: Sequence[GenerationTask],
        *,
        progress: ProgressCallback | None = None,
        locator: ModelLocator | None = None,
    ) -> list[TaskResult]:
        """Run tasks sharing one ``batch_key`` as one pipeline call; one result per task,
        its images encoded (``draw`` then ``encode``); a revision is loaded from ``locator``
        when it has it.

        Raises ``InvalidTaskError``/``InvalidBatchError`` before any work, the registry's
        ``ModelNotFoundError``/``ModelLoadError``, ``OutOfMemoryError`` when even one image
        does not fit, and ``InferenceError`` for any other pipeline failure. An exception
        raised by ``progress`` propagates unchanged.
        """
        return self.encode(self.draw(tasks, progress=progress, locator=locator))

    def draw(
        self,
        tasks: Sequence[GenerationTask],
        *,
        progress: ProgressCallback | None = None,
        locator: ModelLocator | None = None,
    ) -> list[DrawnTask]:
        """``generate`` without the encoding: the model call alone (errors as ``generate``)."""
        key = check_batch(tasks)
        with self._lock:
            registry = self.registry
            model = registry.get(key.model, key.revision, locator)
            self._check_model_inputs(model, tasks)
            return self._generate(model, key, tasks, progress)

    def encode(self, drawn: Sequence[DrawnTask]) -> list[TaskResult]:
        """Encode drawn images on the engine's ``encode_threads``; thread-safe, and not
        serialised with model calls, so it may overlap the next one."""
        return encode_drawn(drawn, self.settings, self._encoder_pool())

    def _encoder_pool(self) -> ThreadPoolExecutor | None:
        if self.settings.encode_threads <= 1:
            return None
        with self._pool_lock:
            if self._encoders is None:
                self._encoders = ThreadPoolExecutor(
                    self.settings.encode_threads, thread_name_prefix="encode"
                )
            return self._encoders

    def _generate(
        self,
        model: LoadedModel,
        key: BatchKey,
        tasks: Sequence[GenerationTask],
        progress: ProgressCallback | None,
    ) -> list[DrawnTask]:
        base_seeds = [resolve_seed(task) for task in tasks]
        jobs = [
            _ImageJob(
                task_index=t,
                image_index=i,
                prompt=task.prompt,
                negative_prompt=task.negative_prompt or "",
                seed=image_seed(base_seeds[t], i),
                request_id=task.request_id,
            )
            for t, task in enumerate(tasks)
            for i in range(task.num_images)
        ]
        pipeline = model.pipeline
        pipeline.scheduler = model.scheduler(key.scheduler)
        sampler = scheduler_label(key.scheduler, pipeline.scheduler)
        registry = self.registry

        def run(part: Sequence[_ImageJob]) -> _CallOutput:
            return self._call_pipeline(model, key, part, progress)

        def evict_others() -> bool:
            return registry.evict_others((model.name, model.revision)) > 0

        try:
            with self.on_model_cores():
                parts = run_splitting_on_oom(
                    jobs,
                    run,
                    on_oom=lambda: free_device_memory(self.device),
                    on_single_oom=evict_others,
                )
        except torch.cuda.OutOfMemoryError as exc:
            raise OutOfMemoryError(
                f"one {key.width}x{key.height} image of model {key.model!r} does not fit in "
                f"{self.device} memory even alone: ask for a smaller size, or enable "
                "DIFFSTREAM_ENGINE__VAE_TILING"
            ) from exc
        return self._drawn(tasks, parts, sampler)

    def _call_pipeline(
        self,
        model: LoadedModel,
        key: BatchKey,
        jobs: Sequence[_ImageJob],
        progress: ProgressCallback | None,
    ) -> _CallOutput:
        arguments: dict[str, Any] = {
            "prompt": [job.prompt for job in jobs],
            "width": key.width,
            "height": key.height,
            "num_inference_steps": key.steps,
            "guidance_scale": key.guidance_scale,
            "num_images_per_prompt": 1,
            "generator": [torch.Generator("cpu").manual_seed(job.seed) for job in jobs],
            "output_type": "pil",
        }
        if model.accepts_negative_prompt:
            arguments["negative_prompt"] = [job.negative_prompt for job in jobs]
        if progress is not None:
            arguments["callback_on_step_end"] = _step_callback(progress, key.steps, jobs)
        started = time.perf_counter()
        try:
            output = model.pipeline(**arguments)
        except torch.cuda.OutOfMemoryError:
            raise
        except _ProgressCallbackError as exc:
            raise exc.error from None
        except Exception as exc:
            raise InferenceError(
                f"model {key.model!r} failed on a batch of {len(jobs)}: {exc}"
            ) from exc
        seconds = time.perf_counter() - started
        images = list(output.images)
        if len(images) != len(jobs):
            raise InferenceError(
                f"model {key.model!r} returned {len(images)} of {len(jobs)} images"
            )
        return _CallOutput(images=images, seconds=seconds)

    def _drawn(
        self,
        tasks: Sequence[GenerationTask],
        parts: list[tuple[Sequence[_ImageJob], _CallOutput]],
        sampler: str,
    ) -> list[DrawnTask]:
        images: list[list[DrawnImage]] = [[] for _ in tasks]
        inference_s = [0.0] * len(tasks)
        share_s = [0.0] * len(tasks)
        batch_images = [0] * len(tasks)
        for jobs, output in parts:
            for t in {job.task_index for job in jobs}:
                inference_s[t] += output.seconds
                batch_images[t] = max(batch_images[t], len(jobs))
            for job, image in zip(jobs, output.images, strict=True):
                share_s[job.task_index] += output.seconds / len(jobs)
                images[job.task_index].append(DrawnImage(job.image_index, job.seed, image))
        return [
            DrawnTask(
                task=task,
                images=tuple(sorted(images[t], key=lambda image: image.index)),
                sampler=sampler,
                inference_s=inference_s[t],
                accelerator_s=share_s[t],
                batch_images=batch_images[t],
            )
            for t, task in enumerate(tasks)
        ]

    def _check_model_inputs(self, model: LoadedModel, tasks: Sequence[GenerationTask]) -> None:
        if model.accepts_negative_prompt:
            return
        for task in tasks:
            if task.negative_prompt:
                raise InvalidTaskError(
                    "negative_prompt",
                    f"is set but model {model.name!r} takes no negative prompt: leave it empty",
                    request_id=task.request_id,
                )

    def _warm_up(self, model: LoadedModel) -> None:
        side = _native_side(model.pipeline)
        task = GenerationTask(
            request_id="warmup",
            model=model.name,
            revision=model.revision,
            prompt=WARMUP_PROMPT,
            width=side,
            height=side,
            steps=WARMUP_STEPS,
            guidance_scale=7.5,
            seed=0,
        )
        started = time.perf_counter()
        encode_drawn(self._generate(model, batch_key(task), [task], None), self.settings)
        logger.info("warmed up %s in %.2fs", model.name, time.perf_counter() - started)


def _step_callback(progress: ProgressCallback, steps: int, jobs: Sequence[_ImageJob]) -> Any:
    request_ids = tuple(dict.fromkeys(job.request_id for job in jobs))

    def on_step_end(
        pipeline: Any, step: int, _timestep: Any, _tensors: dict[str, Any]
    ) -> dict[str, Any]:
        # The loop may run more iterations than steps asked for (PNDM adds one, second-order
        # schedulers such as heun double them); report the loop's own count.
        total = getattr(pipeline, "num_timesteps", None)
        total = total if isinstance(total, int) and total > 0 else steps
        try:
            progress(
                StepProgress(step=step + 1, steps=total, request_ids=request_ids, images=len(jobs))
            )
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception as exc:
            raise _ProgressCallbackError(exc) from exc
        return {}

    return on_step_end


def _native_side(pipeline: Any) -> int:
    """The model's native image side: its latent sample size times the VAE's factor."""
    denoiser = denoiser_of(pipeline)
    sample_size = getattr(getattr(denoiser, "config", None), "sample_size", None)
    factor = getattr(pipeline, "vae_scale_factor", None)
    if isinstance(sample_size, int) and isinstance(factor, int):
        return sample_size * factor
    return DEFAULT_WARMUP_SIDE
