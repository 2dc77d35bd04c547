"""Model registry: a model name -> a loaded pipeline, with a least-recently-used limit.

A name resolves, in order, to:
1. a built-in model: ``tiny-sd`` (random weights, built on first use into the models
   directory), ``digits`` (handwritten digits, weights committed with the code; a
   retrained copy in ``models_dir/digits`` takes precedence), ``null`` (a fixed image
   with no compute, for measuring the pipeline around a model) or ``sim`` (a simulated
   accelerator: a set time per batch, no CPU, pictures that cost a photograph's encoding);
2. a directory ``models_dir/<name>`` holding a diffusers pipeline (``model_index.json``),
   or an absolute path to such a directory;
3. a diffusers model id, loaded from the local Hugging Face cache, or from the hub only when
   ``allow_hub_downloads`` is set.
Before all of these, a name with a revision is asked of the ``ModelLocator`` when one is
given (the model store: ``processors.store``), which hands back a local directory.
Every path goes through ``from_pretrained`` exactly as a downloaded model would.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from processors.engine.devices import free_device_memory
from processors.engine.digits import PACKAGED_WEIGHTS
from processors.engine.null_model import NULL_MODEL, NullPipeline
from processors.engine.schedulers import make_scheduler
from processors.engine.settings import EngineSettings
from processors.engine.sim_model import SIM_MODEL, SimPipeline
from processors.engine.speedups import apply_speedups
from processors.engine.tiny_sd import TINY_SD, ensure_tiny_sd
from processors.exceptions import InferenceError, ModelLoadError, ModelNotFoundError
from schemas.prompts import DIGITS_MODEL

logger = logging.getLogger(__name__)

ModelKey = tuple[str, str | None]  # (name, revision)


class ModelLocator(Protocol):
    """Where stored revisions come from (``processors.store.source.StoreModels``)."""

    def pin(self, model: str, revision: str | None) -> str | None:
        """The revision a request naming ``model`` and ``revision`` runs on."""
        ...

    def fetch(self, model: str, revision: str) -> Path | None:
        """A local directory of ``model@revision``; None when the locator has no such model."""
        ...


@dataclass(slots=True)
class LoadedModel:
    """A pipeline on its device, with its own scheduler kept for tasks that name none."""

    name: str
    revision: str | None
    source: str
    pipeline: Any
    load_s: float
    default_scheduler: Any = None
    accepts_negative_prompt: bool = True
    _schedulers: dict[str, Any] = field(default_factory=dict)

    def scheduler(self, name: str | None) -> Any:
        """The scheduler for a task: the model's own for None, else the named variant."""
        if name is None:
            return self.default_scheduler
        if name not in self._schedulers:
            try:
                self._schedulers[name] = make_scheduler(name, self.default_scheduler.config)
            except ImportError as exc:
                # e.g. lms needs scipy; another worker may have it, so this is retryable.
                reason = " ".join(str(exc).split())
                raise InferenceError(
                    f"scheduler {name!r} is unavailable on this worker: {reason}"
                ) from exc
        return self._schedulers[name]


class ModelRegistry:
    """Loads models on demand and keeps at most ``max_loaded_models`` of them."""

    def __init__(
        self,
        settings: EngineSettings,
        *,
        models_dir: Path,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self._settings = settings
        self._models_dir = models_dir
        self._device = device
        self._dtype = dtype
        self._models: OrderedDict[ModelKey, LoadedModel] = OrderedDict()
        self._builtins: dict[str, Callable[[], Any]] = {
            TINY_SD: self._load_tiny_sd,
            DIGITS_MODEL: self._load_digits,
            NULL_MODEL: NullPipeline,
            SIM_MODEL: functools.partial(
                SimPipeline,
                ms_per_image=settings.sim_ms_per_image,
                batch_alpha=settings.sim_batch_alpha,
            ),
        }

    @property
    def models_dir(self) -> Path:
        """Where built-in models are built and local models are looked up by name."""
        return self._models_dir

    def get(
        self, model: str, revision: str | None = None, locator: ModelLocator | None = None
    ) -> LoadedModel:
        """The loaded model, loading it (and evicting the least recently used) if needed;
        a revision is looked for with ``locator`` first."""
        key: ModelKey = (model, revision)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        while len(self._models) >= self._settings.max_loaded_models:
            oldest = next(iter(self._models))
            logger.info("evicting model %s to make room for %s", oldest[0], model)
            self.evict(*oldest)
        loaded = self._load(model, revision, locator)
        self._models[key] = loaded
        return loaded

    def loaded(self) -> list[ModelKey]:
        """Keys of the loaded models, least recently used first."""
        return list(self._models)

    def evict(self, model: str, revision: str | None = None) -> bool:
        """Unload a model and free its device memory; False if it was not loaded."""
        loaded = self._models.pop((model, revision), None)
        if loaded is None:
            return False
        # Drop the last references before asking the allocator to give memory back.
        loaded.pipeline = None
        loaded.default_scheduler = None
        del loaded
        free_device_memory(self._device)
        return True

    def evict_others(self, keep: ModelKey) -> int:
        """Unload every model but ``keep`` (to make room after an out-of-memory error)."""
        others = [key for key in self._models if key != keep]
        for key in others:
            self.evict(*key)
        return len(others)

    def clear(self) -> None:
        """Unload every model."""
        for key in list(self._models):
            self.evict(*key)

    def _load(self, model: str, revision: str | None, locator: ModelLocator | None) -> LoadedModel:
        started = time.perf_counter()
        stored = locator.fetch(model, revision) if locator and revision else None
        if stored is not None:
            pipeline, source = self._load_stored(model, stored), f"store {model}@{revision}"
        else:
            pipeline, source = self._from_pretrained(model, revision)
        try:
            pipeline.to(self._device)
        except (RuntimeError, ValueError) as exc:
            raise ModelLoadError(
                f"model {model!r} could not move to {self._device}: {exc}"
            ) from exc
        # Progress bars belong to interactive use; a processor reports progress as events.
        pipeline.set_progress_bar_config(disable=True)
        applied = apply_speedups(pipeline, self._settings)
        load_s = time.perf_counter() - started
        logger.info(
            "loaded model %s from %s on %s/%s in %.2fs%s",
            model,
            source,
            self._device,
            str(self._dtype).removeprefix("torch."),
            load_s,
            f" ({', '.join(applied)})" if applied else "",
        )
        parameters = inspect.signature(pipeline.__call__).parameters
        return LoadedModel(
            name=model,
            revision=revision,
            source=source,
            pipeline=pipeline,
            load_s=load_s,
            default_scheduler=pipeline.scheduler,
            accepts_negative_prompt="negative_prompt" in parameters,
        )

    def _from_pretrained(self, model: str, revision: str | None) -> tuple[Any, str]:
        if model in self._builtins:
            return self._builtins[model](), f"built-in {model}"
        tried: list[str] = [f"built-in models ({', '.join(sorted(self._builtins))})"]
        for directory in self._local_candidates(model):
            if (directory / "model_index.json").is_file():
                return self._load_directory(model, directory), str(directory)
            tried.append(f"local directory {directory} (no model_index.json)")
        return self._load_model_id(model, revision, tried), f"model id {model}"

    def _local_candidates(self, model: str) -> list[Path]:
        candidates: list[Path] = []
        root = self._models_dir.resolve()
        named = (root / model).resolve()
        # A name must not climb out of the models directory ("../../etc").
        if named.is_relative_to(root) and named != root:
            candidates.append(named)
        if Path(model).is_absolute():
            candidates.append(Path(model))
        return candidates

    def _offline_hint(self, model: str) -> str:
        downloads = "set DIFFSTREAM_ENGINE__ALLOW_HUB_DOWNLOADS=true to let the engine download it"
        local = self._local_candidates(model)
        if local and local[0].is_relative_to(self._models_dir.resolve()):
            return f". Put the pipeline in {local[0]}, or {downloads}"
        return f". Use a diffusers model id or a directory name, or {downloads}"

    def _dtype_argument(self) -> dict[str, torch.dtype]:
        return {dtype_keyword(): self._dtype}

    def _load_tiny_sd(self) -> Any:
        return self._stable_diffusion(ensure_tiny_sd(self._models_dir))

    def _load_digits(self) -> Any:
        """The committed weights, unless ``models_dir/digits`` holds a retrained copy."""
        retrained = self._models_dir / DIGITS_MODEL
        directory = retrained if (retrained / "model_index.json").is_file() else PACKAGED_WEIGHTS
        return self._digits(directory)

    def _stable_diffusion(self, directory: Path) -> Any:
        """A Stable Diffusion pipeline saved without its safety checker."""
        from diffusers import StableDiffusionPipeline  # noqa: PLC0415  # heavy import

        return StableDiffusionPipeline.from_pretrained(
            directory,
            local_files_only=True,
            **self._dtype_argument(),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )

    def _digits(self, directory: Path) -> Any:
        """The project's own pipeline class: diffusers cannot import it by name."""
        from processors.engine.digits.pipeline import DigitsPipeline  # noqa: PLC0415  # heavy

        return DigitsPipeline.from_pretrained(
            directory, local_files_only=True, **self._dtype_argument()
        )

    def _load_stored(self, model: str, directory: Path) -> Any:
        """A revision from the store, with the loader its pipeline class needs."""
        klass = _pipeline_class(directory)
        if klass == "DigitsPipeline":
            return self._digits(directory)
        if klass == "StableDiffusionPipeline" and not (directory / "safety_checker").is_dir():
            return self._stable_diffusion(directory)
        return self._load_directory(model, directory)

    def _load_directory(self, model: str, directory: Path) -> Any:
        from diffusers import DiffusionPipeline  # noqa: PLC0415  # heavy import

        try:
            return DiffusionPipeline.from_pretrained(
                directory, local_files_only=True, **self._dtype_argument()
            )
        except (OSError, ValueError, TypeError) as exc:
            raise ModelLoadError(
                f"model {model!r} at {directory} could not be loaded: {exc}"
            ) from exc

    def _load_model_id(self, model: str, revision: str | None, tried: list[str]) -> Any:
        from diffusers import DiffusionPipeline  # noqa: PLC0415  # heavy import

        allow = self._settings.allow_hub_downloads
        try:
            return DiffusionPipeline.from_pretrained(
                model,
                revision=revision,
                local_files_only=not allow,
                **self._dtype_argument(),
            )
        except (OSError, ValueError) as exc:
            # huggingface_hub's "not found" errors subclass OSError or ValueError.
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            where = "the Hugging Face hub" if allow else "the local Hugging Face cache"
            tried.append(f"{where} as a model id ({reason})")
            hint = "" if allow else self._offline_hint(model)
            raise ModelNotFoundError(model, tried, hint=hint) from exc


def _pipeline_class(directory: Path) -> str | None:
    """The ``_class_name`` of a pipeline directory's ``model_index.json``, if readable."""
    try:
        index = json.loads((directory / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    klass = index.get("_class_name") if isinstance(index, dict) else None
    return klass if isinstance(klass, str) else None


@functools.cache
def dtype_keyword() -> str:
    """``dtype`` where diffusers takes it (it deprecates ``torch_dtype``), else ``torch_dtype``.

    Older diffusers would silently ignore ``dtype`` and load in fp32, so ask rather than guess.
    """
    try:
        from diffusers.utils import deprecation_utils  # noqa: PLC0415  # heavy import
    except ImportError:
        return "torch_dtype"
    return "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"
