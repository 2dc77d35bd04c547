"""What a scenario is: a name, what it does to the pipeline, and what it needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra.chaos.arena import Arena
from infra.chaos.crashing import RoleTweaks
from infra.chaos.roles import RoleSpec, image_sink, processor


@dataclass(frozen=True, slots=True)
class Scenario:
    """One row of the suite's table.

    ``play`` starts the roles it needs in ``arena.fleet``, publishes (noting with
    ``arena.expect`` what each request must end as), injects its faults inside
    ``arena.fault(...)`` and waits for the outcomes; the runner judges the rest.
    ``brokers`` is the cluster size it needs; ``tweaks`` changes its processors."""

    name: str
    summary: str
    play: Callable[[Arena], None]
    brokers: int = 1
    tweaks: Callable[[Path], RoleTweaks] | None = None
    # How long the whole scenario may take before the runner stops waiting.
    timeout_s: float = 300.0


def standard_fleet(arena: Arena, processors: int = 2) -> list[RoleSpec]:
    """Start ``processors`` processors and one image sink; wait until each consumes."""
    specs = [*(processor(i) for i in range(1, processors + 1)), image_sink()]
    arena.say("starting " + ", ".join(spec.name for spec in specs))
    arena.fleet.start_all(specs)
    return specs
