"""What the peers bench measures, and how hard."""

from __future__ import annotations

from dataclasses import dataclass

PEERS = ("fastapi", "ray_serve", "bentoml", "litserve")
SYSTEMS = ("diffstream", *PEERS)


@dataclass(frozen=True, slots=True)
class PeersOptions:
    """The defaults take about 2 minutes per system with ``digits`` on 2 CPU cores."""

    systems: tuple[str, ...] = SYSTEMS
    model: str = "digits"
    side: int = 64
    steps: int = 20
    guidance_scale: float = 1.0
    device: str = "cpu"
    # torch threads of every model process and of the bare loop (None: torch's default, one
    # per core). On a CPU shared with other work, 1 avoids OpenMP threads waiting on each
    # other at every op (20x slower batches of 8 on a loaded 2-core machine).
    cpu_threads: int | None = None
    # Cores every system's model calls run on, with everything else (the load, the stack,
    # the servers' other threads) kept on the cores left: the model's cores stand in for an
    # accelerator (infra/bench/cores.py). Sorted, as the engine's cpu_cores and the
    # report take them. None: nothing is pinned.
    model_cores: tuple[int, ...] | None = None
    # The bare loop (engine.generate of 8 tasks, back to back) runs this long.
    capacity_s: float = 5.0
    steady_fraction: float = 0.8
    # Unmeasured arrivals at the steady rate before the steady phase, for every system: a
    # freshly started server is slower in its first minute under load than later (a Kafka
    # broker with the JVM's server JIT spent a fifth to a third of a core compiling).
    warmup_s: float = 30.0
    steady_s: float = 15.0
    burst_factor: float = 5.0
    burst_s: float = 10.0
    # The kill phase: the burst's rate for kill_s, the model's process killed half-way.
    kill_s: float = 6.0
    # At most this offered steady rate (the null model's bare loop runs thousands a second).
    max_rate: float | None = 100.0
    # Offer exactly this steady rate instead of a share of the bare loop's capacity.
    rate: float | None = None
    poisson: bool = True
    timeout_s: float = 60.0
    start_timeout_s: float = 300.0
    self_heal_s: float = 30.0
    bring_stack_up: bool = True
