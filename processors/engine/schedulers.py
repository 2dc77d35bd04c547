"""Short scheduler names (as Stable Diffusion UIs spell samplers) and their diffusers classes.

The table is plain data so that task validation needs no diffusers import; ``make_scheduler``
builds the class from a model's own scheduler config, diffusers' documented way to swap
schedulers (``Scheduler.from_config(pipe.scheduler.config)``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, NamedTuple

logger = logging.getLogger(__name__)


class SchedulerSpec(NamedTuple):
    """A diffusers scheduler class name and the config overrides that make the variant."""

    class_name: str
    overrides: Mapping[str, Any] = {}


# Mirrors the list documented on diffstream.settings.RequestLimits.schedulers.
SCHEDULERS: Mapping[str, SchedulerSpec] = {
    "ddim": SchedulerSpec("DDIMScheduler"),
    "ddpm": SchedulerSpec("DDPMScheduler"),
    "deis": SchedulerSpec("DEISMultistepScheduler"),
    "dpm2": SchedulerSpec("KDPM2DiscreteScheduler"),
    "dpm2_a": SchedulerSpec("KDPM2AncestralDiscreteScheduler"),
    "dpmpp_2m": SchedulerSpec("DPMSolverMultistepScheduler"),
    "dpmpp_2m_karras": SchedulerSpec("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "dpmpp_sde": SchedulerSpec("DPMSolverSinglestepScheduler"),
    "euler": SchedulerSpec("EulerDiscreteScheduler"),
    "euler_a": SchedulerSpec("EulerAncestralDiscreteScheduler"),
    "heun": SchedulerSpec("HeunDiscreteScheduler"),
    "lcm": SchedulerSpec("LCMScheduler"),
    "lms": SchedulerSpec("LMSDiscreteScheduler"),
    "pndm": SchedulerSpec("PNDMScheduler"),
    "tcd": SchedulerSpec("TCDScheduler"),
    "unipc": SchedulerSpec("UniPCMultistepScheduler"),
}


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
