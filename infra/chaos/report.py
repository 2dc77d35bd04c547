"""The suite's table, and what went wrong where."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from infra.chaos.runner import ScenarioResult


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}"


def results_table(results: Sequence[ScenarioResult]) -> Table:
    """scenario, requests, lost, more than one terminal event, images missing, seconds to
    recover, and the role processes the harness had to start again."""
    table = Table(title="diffstream fault suite")
    for column in (
        "scenario",
        "requests",
        "lost",
        ">1 terminal",
        "wrong outcome",
        "images missing",
        "recover s",
        "longest gap s",
        "killed",
        "exited (restarted)",
        "result",
    ):
        table.add_column(column, justify="left" if column in ("scenario", "result") else "right")
    for r in results:
        faults = _seconds(r.recover_s) if r.recover_s is not None or r.kills or r.exits else "-"
        table.add_row(
            r.name,
            str(r.requests),
            str(r.lost),
            str(r.duplicated),
            str(r.wrong),
            str(r.images_missing),
            faults,
            f"{r.longest_gap_s:.1f}",
            str(r.kills),
            f"{len(r.exits)}" + (f" (≤{r.allowed_exits} ok)" if r.allowed_exits else ""),
            "[green]pass[/green]" if r.passed else "[red]FAIL[/red]",
        )
    return table


def print_details(console: Console, results: Sequence[ScenarioResult]) -> None:
    """Per scenario: why it failed, its own checks, examples, and how roles exited."""
    for r in results:
        console.print(f"\n[bold]{r.name}[/bold] ({r.seconds:.0f}s): {r.summary}")
        for check in r.checks:
            mark = "[green]ok[/green]" if check.passed else "[red]failed[/red]"
            console.print(f"  {mark} {check.name}: {check.detail}")
        for reason in r.failures:
            console.print(f"  [red]✗[/red] {reason}")
        for kind, examples in r.examples.items():
            for example in examples:
                console.print(f"    {kind}: {example}", highlight=False)
        for exit_ in r.exits[:3]:
            last = exit_.last_lines.strip().splitlines()[-1:] or ["(no output)"]
            console.print(
                f"    {exit_.role} exited with status {exit_.returncode}: {last[0][:200]}"
                f" (log: {exit_.log_file})",
                highlight=False,
            )
        for note in r.notes:
            console.print(f"  note: {note}")
