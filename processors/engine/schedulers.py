"""Diffusers schedulers from the short names of ``schemas.schedulers``.

``make_scheduler`` builds the class from a model's own scheduler config, diffusers'
documented way to swap schedulers (``Scheduler.from_config(pipe.scheduler.config)``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from schemas.schedulers import SCHEDULERS

logger = logging.getLogger(__name__)


def make_scheduler(name: str, base_config: Mapping[str, Any]) -> Any:
    """A new ``name`` scheduler configured from a model's own scheduler config."""
    import diffusers  # noqa: PLC0415  # keeps this module importable without diffusers

    spec = SCHEDULERS[name]
    scheduler_class = getattr(diffusers, spec.class_name)
    # Karras sigmas left on by the model's config would silently turn "dpmpp_2m" into
    # "dpmpp_2m_karras"; the variant is exactly what its short name says.
    overrides = {"use_karras_sigmas": False} if "use_karras_sigmas" in base_config else {}
    overrides.update(spec.overrides)
    logger.debug("scheduler %s -> %s %s", name, spec.class_name, overrides)
    return scheduler_class.from_config(base_config, **overrides)


def scheduler_label(name: str | None, scheduler: object) -> str:
    """The sampler name written into image metadata: the short name, else the class name."""
    if name is not None:
        return name
    class_name = type(scheduler).__name__
    for short, spec in SCHEDULERS.items():
        if spec.class_name == class_name and not spec.overrides:
            return short
    return class_name
