"""Running scenarios one after another on one stack, with live progress, and judging each."""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from infra.chaos.arena import Arena, Check, scenario_settings
from infra.chaos.env import role_env
from infra.chaos.load import LoadPublisher
from infra.chaos.outcomes import OutcomeReader, missing_images
from infra.chaos.roles import Fleet, RoleExit
from infra.chaos.scenario import Scenario
from infra.chaos.stack import ChaosStack
from infra.chaos.verdict import delayed_after, longest_gap_s, recovery_s, tally

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ScenarioResult:
    """One row of the table, and why it failed."""

    name: str
    summary: str
    requests: int
    lost: int
    duplicated: int
    wrong: int
    images_missing: int
    recover_s: float | None
    longest_gap_s: float
    kills: int
    exits: list[RoleExit]
    allowed_exits: int
    checks: list[Check]
    notes: list[str]
    seconds: float
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def failures(self) -> list[str]:
        """Each broken promise, in words; empty when the scenario passed."""
        reasons = [
            f"{count} {what}"
            for count, what in (
                (self.lost, "lost (no outcome)"),
                (self.duplicated, "with more than one terminal event"),
                (self.wrong, "with a wrong outcome"),
                (self.images_missing, "images missing from the bucket"),
            )
            if count
        ]
        if len(self.exits) > self.allowed_exits:
            roles = sorted({e.role for e in self.exits})
            reasons.append(
                f"{len(self.exits)} role exits restarted by the harness ({', '.join(roles)}; "
                f"{self.allowed_exits} allowed)"
            )
        reasons += [f"{c.name}: {c.detail}" for c in self.checks if not c.passed]
        return reasons

    @property
    def passed(self) -> bool:
        """Whether every promise held."""
        return not self.failures

    def as_row(self) -> dict[str, object]:
        """The row and its reasons, as plain JSON values."""
        return {
            "scenario": self.name,
            "summary": self.summary,
            "requests": self.requests,
            "lost": self.lost,
            "more_than_one_terminal": self.duplicated,
            "wrong_outcome": self.wrong,
            "images_missing": self.images_missing,
            "recover_s": None if self.recover_s is None else round(self.recover_s, 1),
            "longest_gap_s": round(self.longest_gap_s, 1),
            "killed": self.kills,
            "exited": len(self.exits),
            "exited_allowed": self.allowed_exits,
            "passed": self.passed,
            "failures": self.failures,
            "seconds": round(self.seconds, 1),
        }


def run_suite(
    stack: ChaosStack, scenarios: Sequence[Scenario], log_root: Path, console: Console
) -> list[ScenarioResult]:
    """Every scenario in turn, each on topics, groups and a bucket of its own."""
    results = []
    columns = (
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[phase]}"),
    )
    with Progress(*columns, console=console) as progress:
        for scenario in scenarios:
            task = progress.add_task(scenario.name, total=None, phase="setting up")

            def say(text: str, task_id: TaskID = task, name: str = scenario.name) -> None:
                progress.update(task_id, phase=text)
                progress.console.log(f"[bold]{name}[/bold]: {text}")

            result = run_scenario(stack, scenario, log_root / scenario.name, say, progress, task)
            verdict = "[green]passed[/green]" if result.passed else "[red]FAILED[/red]"
            progress.update(task, phase=verdict)
            results.append(result)
    return results


def run_scenario(  # noqa: PLR0917  # each is needed, none has a natural default
    stack: ChaosStack,
    scenario: Scenario,
    workdir: Path,
    say: Callable[[str], None],
    progress: Progress,
    task: TaskID,
) -> ScenarioResult:
    """Set the scenario's world up, play it, tear it down, judge it."""
    workdir.mkdir(parents=True, exist_ok=True)
    tweaks = scenario.tweaks(workdir) if scenario.tweaks else None
    settings = scenario_settings(
        stack.settings, scenario.name, models_dir=tweaks.models_dir if tweaks else None
    )
    fleet = Fleet(
        role_env(settings, tweaks.env if tweaks else None),
        workdir,
        instance_prefix=settings.topic_prefix,
    )
    began = time.monotonic()
    with OutcomeReader(settings) as outcomes:
        arena = Arena(
            stack=stack,
            settings=settings,
            fleet=fleet,
            publisher=LoadPublisher(settings),
            outcomes=outcomes,
            log_dir=workdir,
            say=say,
        )
        ticker = _Ticker(progress, task, arena)
        try:
            scenario.play(arena)
        except Exception as exc:  # a broken scenario is reported as such, the suite goes on
            log.exception("scenario %s stopped early", scenario.name)
            arena.checks.append(
                Check("scenario ran to its end", False, f"{type(exc).__name__}: {exc}")
            )
        finally:
            ticker.stop()
            say("stopping the roles")
            fleet.close()
            arena.notes += [f"hung at the end, did not stop on SIGTERM: {h}" for h in fleet.hung]
        result = judge(scenario, arena, time.monotonic() - began)
    stack.heal()
    return result


def judge(scenario: Scenario, arena: Arena, seconds: float) -> ScenarioResult:
    """Count what the outcomes and the bucket say against what the scenario expected."""
    by_request = {request_id: arena.outcomes.of(request_id) for request_id in arena.expected}
    counts = tally(arena.expected, by_request)
    completed = [e for events in by_request.values() for e in events if e.kind == "completed"]
    missing = missing_images(arena.settings, completed)
    first = {r: min(e.seen_at for e in events) for r, events in by_request.items() if events}
    acked = arena.publisher.acked_at()
    recoveries = _recoveries(arena, acked, first)
    recover = None
    if recoveries and all(r is not None for r in recoveries):
        recover = max(r for r in recoveries if r is not None)
    elif recoveries:
        arena.notes.append("some requests in flight at a fault never got an outcome")
    times = [e.seen_at for events in by_request.values() for e in events]
    return ScenarioResult(
        name=scenario.name,
        summary=scenario.summary,
        requests=arena.records_published,
        lost=len(counts.lost),
        duplicated=len(counts.duplicated),
        wrong=len(counts.wrong),
        images_missing=len(missing),
        recover_s=recover,
        longest_gap_s=longest_gap_s(times),
        kills=arena.fleet.kills,
        exits=list(arena.fleet.exits),
        allowed_exits=arena.allowed_exits,
        checks=list(arena.checks),
        notes=list(arena.notes),
        seconds=seconds,
        examples={
            "lost": counts.lost[:3],
            "duplicated": counts.duplicated[:3],
            "wrong": [_describe(r, by_request[r]) for r in counts.wrong[:5]],
            "missing": missing[:3],
        },
    )


def _recoveries(
    arena: Arena, acked: dict[str, float], first: dict[str, float]
) -> list[float | None]:
    faults = sorted(arena.faults, key=lambda fault: fault.injected_at)
    if not faults:
        return []
    before = [first[r] - t for r, t in acked.items() if r in first and t < faults[0].injected_at]
    baseline = statistics.median(before) if before else 0.0
    ends = [fault.injected_at for fault in faults[1:]] + [float("inf")]
    return [
        recovery_s(
            fault,
            until=until,
            acked_at=acked,
            first_outcome=first,
            delayed_s=delayed_after(baseline),
        )
        for fault, until in zip(faults, ends, strict=True)
    ]


def _describe(request_id: str, events: Sequence[object]) -> str:
    parts = []
    for event in events:
        kind = getattr(event, "kind", "?")
        code = getattr(event, "error_code", None)
        message = str(getattr(event, "message", ""))[:160]
        parts.append(f"{kind}" + (f" {code}: {message}" if code else ""))
    return f"{request_id}: " + "; ".join(parts)


class _Ticker:
    """Moves the scenario's progress bar as outcomes arrive."""

    def __init__(self, progress: Progress, task: TaskID, arena: Arena) -> None:
        self._progress, self._task, self._arena = progress, task, arena
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ticker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            expected = list(self._arena.expected)
            done = self._arena.outcomes.count_done(expected)
            self._progress.update(self._task, total=len(expected) or None, completed=done)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
