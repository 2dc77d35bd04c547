"""A `digits` model that makes its process exit on one request: the crash scenario's trigger.

Nothing in diffstream's code paths knows about it. The suite builds, in the scenario's own
models directory, a copy of the committed `digits` weights whose ``model_index.json`` names
a scheduler class from a module the suite writes next to it and puts on the processors'
``PYTHONPATH``; the engine loads ``MODELS_DIR/digits`` instead of the committed copy, as it
does for a retrained model, and diffusers imports the scheduler's module by name. That
scheduler calls ``os._exit`` (no cleanup, no exception to catch: as a segfault or the OOM
killer) when a request asks for ``CRASH_STEPS`` steps, and behaves as DDIM otherwise.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from processors.engine.digits import PACKAGED_WEIGHTS

CRASH_STEPS = 7
CRASH_EXIT_STATUS = 86
MODULE = "chaos_crash"
SCHEDULER_CLASS = "CrashingDDIMScheduler"

# diffusers finds the loading method of a component class from a library of its own by
# looking up its base classes (SchedulerMixin) in that library's namespace.
_SOURCE = f'''"""Written by the diffstream fault suite: a DDIM scheduler that kills its process."""

import os

from diffusers import DDIMScheduler, SchedulerMixin

__all__ = ["{SCHEDULER_CLASS}", "SchedulerMixin"]


class {SCHEDULER_CLASS}(DDIMScheduler):
    """DDIM, except that {CRASH_STEPS} steps end the process (status {CRASH_EXIT_STATUS})."""

    def set_timesteps(self, num_inference_steps, *args, **kwargs):
        if num_inference_steps == {CRASH_STEPS}:
            os._exit({CRASH_EXIT_STATUS})
        return super().set_timesteps(num_inference_steps, *args, **kwargs)
'''


@dataclass(frozen=True, slots=True)
class RoleTweaks:
    """What a scenario changes in its processors: a models directory, extra variables."""

    models_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)


def build_crashing_digits(workdir: Path) -> RoleTweaks:
    """Write the crashing `digits` under ``workdir``; the tweaks that make processors load it."""
    code_dir = workdir / "pythonpath"
    code_dir.mkdir(parents=True, exist_ok=True)
    (code_dir / f"{MODULE}.py").write_text(_SOURCE)
    model = workdir / "models" / "digits"
    shutil.rmtree(model, ignore_errors=True)
    shutil.copytree(PACKAGED_WEIGHTS, model)
    index = json.loads((model / "model_index.json").read_text())
    index["scheduler"] = [MODULE, SCHEDULER_CLASS]
    (model / "model_index.json").write_text(json.dumps(index, indent=2))
    scheduler_config = model / "scheduler" / "scheduler_config.json"
    config = json.loads(scheduler_config.read_text())
    config["_class_name"] = SCHEDULER_CLASS
    scheduler_config.write_text(json.dumps(config, indent=2))
    return RoleTweaks(models_dir=workdir / "models", env={"PYTHONPATH": str(code_dir)})
