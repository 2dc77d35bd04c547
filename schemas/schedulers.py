"""The scheduler names a request may ask for (as Stable Diffusion UIs spell samplers), each
with the diffusers class and config overrides that make it.

Part of the contract: ``validate_request`` accepts exactly these names (narrowed by
``DIFFSTREAM_LIMITS__SCHEDULERS`` when set) and the engine builds its schedulers from the same
table. Plain data, so that neither needs diffusers to read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple


class SchedulerSpec(NamedTuple):
    """A diffusers scheduler class name and the config overrides that make the variant."""

    class_name: str
    overrides: Mapping[str, Any] = {}


# The one table of scheduler names: request validation and the engine both read it.
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
