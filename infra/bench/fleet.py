"""The fleet run: 1, 2 and 4 processor processes, each with its own simulated accelerator.

Every member is a real `diffstream process` (the chaos suite's role processes), running the
``sim`` model at ``FLEET_SIM_RATE`` images/s with alpha 1, so a member's rate does not
depend on how it fills its batches, on topics, a group and a bucket of the round's own,
with one image sink. Small pictures (64x64) keep the CPU of encoding out of the figure:
what is measured is how the work spreads over the members, not the two cores here.

- ``throughput``: completions per second while every member is busy (from the first
  outcome to the one that completes ``SATURATED_SHARE`` of the backlog: the last of a
  backlog hashed onto the partitions drains member by member, which is not scaling);
  ``scaling_efficiency_4`` = throughput with 4 / (4 x throughput with 1).
- ``join_to_first_result_s``: a second member started under a backlog, from its process
  start (and from its "consuming" line) until its /metrics counts a generated request.
- ``lost_on_sigterm``: a member stopped with SIGTERM in the middle of a backlog; every
  request must still have exactly one outcome.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diffstream.settings import GroupProtocol, Settings
from infra.bench.accelerator import sim_engine_settings
from infra.bench.exceptions import BenchError
from infra.bench.scrape import metric_sum
from infra.chaos.arena import scenario_settings
from infra.chaos.env import role_env
from infra.chaos.load import LoadPublisher
from infra.chaos.outcomes import OutcomeReader
from infra.chaos.roles import Fleet, RoleProcess, image_sink, processor
from infra.chaos.verdict import Expect, tally
from infra.stack.ports import free_port
from schemas.builders import new_request

log = logging.getLogger(__name__)

FLEET_SIZES = (1, 2, 4)
FLEET_SIM_RATE = 10.0  # images/s of each member's simulated accelerator
FLEET_SIDE = 64
SATURATED_SHARE = 0.8
OUTCOME_TIMEOUT_S = 300.0
FIRST_RESULT_TIMEOUT_S = 120.0
# The join round keeps at least this many requests waiting until the new member's first result.
JOIN_TOP_UP = 40
GENERATED = "diffstream_processor_requests_total"


@dataclass(frozen=True, slots=True)
class FleetOptions:
    """How much to run; the defaults take a few minutes on 2 cores."""

    sizes: tuple[int, ...] = FLEET_SIZES
    # Backlog per member in a throughput round: 12 s of its accelerator.
    requests_per_member: int = 120
    log_dir: Path = Path("fleet-logs")
    # KIP-848's: the broker's range assignor spreads each lane over the members (the
    # classic cooperative-sticky one balances both lanes' total, so a member can be handed
    # the idle backfill lane while another holds every interactive partition).
    group_protocol: GroupProtocol = "consumer"


def fleet_log_dir(settings: Settings) -> Path:
    """Where a fleet run started now keeps its roles' logs."""
    return settings.home / "bench" / f"fleet-{time.strftime('%Y%m%d-%H%M%S')}"


def fleet_run(stack: Settings, options: FleetOptions, say: Callable[[str], None]) -> dict[str, Any]:
    """Every figure of the fleet run on the running stack ``stack``."""
    rounds: dict[str, Any] = {}
    for size in options.sizes:
        say(f"fleet of {size}: {size * options.requests_per_member} requests")
        rounds[str(size)] = _measured(_throughput_round, stack, size, options)
    one, four = rounds.get("1", {}), rounds.get("4", {})
    out: dict[str, Any] = {
        "sim_images_per_s_per_member": FLEET_SIM_RATE,
        "side": FLEET_SIDE,
        "requests_per_member": options.requests_per_member,
        "saturated_share": SATURATED_SHARE,
        "group_protocol": options.group_protocol,
        "rounds": rounds,
    }
    if "throughput" in one and "throughput" in four:
        out["scaling_efficiency_4"] = four["throughput"] / (4 * one["throughput"])
    say("a second member joining under a backlog")
    out["join"] = _measured(_join_round, stack, options)
    say("a member stopped with SIGTERM under a backlog")
    out["sigterm"] = _measured(_sigterm_round, stack, options)
    if "lost" in out["sigterm"]:
        out["lost_on_sigterm"] = out["sigterm"]["lost"]
    return out


def _measured(part: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """One part's figures, or its error: a failed part must not cost the others."""
    try:
        return part(*args)
    except BenchError as error:
        log.error("fleet run: %s", error)
        return {"error": str(error)}


def fleet_figures(fleet: dict[str, Any]) -> dict[str, Any]:
    """The fleet run's headline figures, for the top of the bench's JSON."""
    return {key: fleet[key] for key in ("scaling_efficiency_4", "lost_on_sigterm") if key in fleet}


def fleet_table(fleet: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows (figure, measured, target, conditions) of the bench table."""
    per_count = ", ".join(
        f"{size}: {row['throughput']:.1f}" if "throughput" in row else f"{size}: {row['error']}"
        for size, row in fleet["rounds"].items()
    )
    sizes = ", ".join(fleet["rounds"])
    conditions = (
        f"`diffstream process` x {sizes}, each sim {fleet['sim_images_per_s_per_member']:.0f} "
        f"img/s, {fleet['side']}x{fleet['side']}, {fleet['requests_per_member']} requests "
        f"per member at once, group protocol {fleet['group_protocol']}"
    )
    join, sigterm = fleet["join"], fleet["sigterm"]
    rows = [("fleet throughput (img/s per member count)", per_count, "", conditions)]
    if "scaling_efficiency_4" in fleet:
        rows.append(("scaling_efficiency_4", f"{fleet['scaling_efficiency_4']:.2f}", ">= 0.9", ""))
    rows.append(
        (
            "new member: start to first result (s)",
            _or_error(join, "start_to_first_result_s"),
            "",
            "a second process started under a backlog; from its first 'consuming' line: "
            + _or_error(join, "consuming_to_first_result_s"),
        )
    )
    rows.append(
        (
            "lost on SIGTERM of a member",
            _or_error(sigterm, "lost"),
            "0",
            f"{sigterm.get('requests')} requests, {sigterm.get('members')} members, "
            f"{sigterm.get('more_than_one_terminal')} with more than one outcome",
        )
    )
    return rows


def _or_error(part: dict[str, Any], key: str) -> str:
    """A part's figure as text, or the error that stopped the part."""
    value = part.get(key)
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value) if value is not None else str(part.get("error", "not measured"))


def _requests(count: int, first_seed: int) -> list[dict[str, Any]]:
    return [
        new_request(
            f"fleet picture {seed}",
            model="sim",
            width=FLEET_SIDE,
            height=FLEET_SIDE,
            steps=1,
            seed=seed,
        )
        for seed in range(first_seed, first_seed + count)
    ]


@dataclass(slots=True)
class _Round:
    """One round's world: its settings, processes, publisher and outcome reader."""

    settings: Settings
    fleet: Fleet
    publisher: LoadPublisher
    outcomes: OutcomeReader
    log_dir: Path
    group_protocol: GroupProtocol

    def start_member(self, index: int) -> RoleProcess:
        env = {
            "DIFFSTREAM_PROCESSOR__METRICS_PORT": str(free_port()),
            "DIFFSTREAM_PROCESSOR__GROUP_PROTOCOL": self.group_protocol,
        }
        return self.fleet.start(processor(index, **env))

    def publish(self, records: list[dict[str, Any]]) -> list[str]:
        self.publisher.send(records)
        self.publisher.flush()
        return [str(record["request_id"]) for record in records]

    def wait(self, request_ids: list[str]) -> None:
        """Until every request has an outcome; ``BenchError`` at the timeout."""
        if not self.outcomes.wait_for(request_ids, OUTCOME_TIMEOUT_S):
            done = self.outcomes.count_done(request_ids)
            raise BenchError(
                f"fleet round: {done} of {len(request_ids)} requests had an outcome "
                f"after {OUTCOME_TIMEOUT_S:.0f}s; the roles' logs are under {self.log_dir}"
            )

    def wait_until_done(self, request_ids: list[str], count: int) -> None:
        """Until ``count`` of the requests have an outcome (the fleet is under way)."""
        deadline = time.monotonic() + OUTCOME_TIMEOUT_S
        while self.outcomes.count_done(request_ids) < count:
            if time.monotonic() > deadline:
                self.wait(request_ids)  # raises, naming how far it got
            time.sleep(0.1)


@contextmanager
def _round(stack: Settings, name: str, options: FleetOptions) -> Iterator[_Round]:
    settings = scenario_settings(stack, name)
    engine = settings.engine.model_copy(
        update={"preload": ("sim",), "warmup": False, **sim_engine_settings(FLEET_SIM_RATE)}
    )
    settings = settings.model_copy(update={"engine": engine})
    log_dir = options.log_dir / name
    fleet = Fleet(role_env(settings), log_dir, instance_prefix=settings.topic_prefix)
    try:
        with OutcomeReader(settings) as outcomes:
            publisher = LoadPublisher(settings)
            protocol = options.group_protocol
            world = _Round(settings, fleet, publisher, outcomes, log_dir, protocol)
            fleet.start_all([image_sink()])
            yield world
    finally:
        fleet.close()


def _throughput_round(stack: Settings, size: int, options: FleetOptions) -> dict[str, Any]:
    with _round(stack, f"fleet{size}", options) as world:
        members = [world.start_member(index) for index in range(1, size + 1)]
        world.fleet.wait_ready([member.name for member in members])
        ids = world.publish(_requests(size * options.requests_per_member, 0))
        world.wait(ids)
        seen = sorted(min(e.seen_at for e in world.outcomes.of(r)) for r in ids)
    cut = max(1, int(SATURATED_SHARE * len(seen)) - 1)
    return {
        "members": size,
        "requests": len(ids),
        "throughput": cut / (seen[cut] - seen[0]),
        "whole_backlog_per_s": (len(seen) - 1) / (seen[-1] - seen[0]),
    }


def _join_round(stack: Settings, options: FleetOptions) -> dict[str, Any]:
    with _round(stack, "fleet-join", options) as world:
        first = world.start_member(1)
        world.fleet.wait_ready([first.name])
        ids = world.publish(_requests(JOIN_TOP_UP, 0))
        world.wait_until_done(ids, 10)  # the first member is busy
        started = time.monotonic()
        second = world.start_member(2)
        port = int(second.spec.env["DIFFSTREAM_PROCESSOR__METRICS_PORT"])
        ready_at = None
        while metric_sum(port, GENERATED, {"outcome": "generated"}) == 0:
            if time.monotonic() - started > FIRST_RESULT_TIMEOUT_S:
                raise BenchError(
                    f"the joining member had no result {FIRST_RESULT_TIMEOUT_S:.0f}s after its "
                    f"start; its log: {second.log_file}"
                )
            if ready_at is None and second.is_ready():
                ready_at = time.monotonic()
            # A backlog all the while: the new member's start must not outlast the work.
            if len(ids) - world.outcomes.count_done(ids) < JOIN_TOP_UP:
                ids += world.publish(_requests(JOIN_TOP_UP, len(ids)))
            time.sleep(0.05)
        first_result = time.monotonic()
        world.wait(ids)
    return {
        "requests": len(ids),
        "start_to_first_result_s": first_result - started,
        "consuming_to_first_result_s": None if ready_at is None else first_result - ready_at,
    }


def _sigterm_round(stack: Settings, options: FleetOptions) -> dict[str, Any]:
    size = max(options.sizes)
    with _round(stack, "fleet-sigterm", options) as world:
        members = [world.start_member(index) for index in range(1, size + 1)]
        world.fleet.wait_ready([member.name for member in members])
        ids = world.publish(_requests(size * options.requests_per_member, 0))
        world.wait_until_done(ids, len(ids) // 3)
        world.fleet.stop(members[-1].name)
        # Not world.wait: a lost request is a figure here, not an error.
        world.outcomes.wait_for(ids, OUTCOME_TIMEOUT_S)
        counts = tally(dict.fromkeys(ids, Expect()), {r: world.outcomes.of(r) for r in ids})
    return {
        "members": size,
        "requests": len(ids),
        "stopped": members[-1].name,
        "lost": len(counts.lost),
        "more_than_one_terminal": len(counts.duplicated),
        "wrong_outcome": len(counts.wrong),
    }
