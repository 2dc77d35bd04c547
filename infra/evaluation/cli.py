"""``diffstream models evaluate``: the shadow evaluation's command, with progress while it
waits and the report's figures on the terminal. Mounted under ``models`` by the entry
package (it runs producers' replay and reads the store, so it sits above both roles)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from diffstream.settings import Settings
from processors.store.evaluation_figures import SideFigures
from processors.store.refs import parse_ref

if TYPE_CHECKING:
    from infra.evaluation.run import EvaluationRun

console = Console()
err_console = Console(stderr=True)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}s"


def _row(role: str, side: SideFigures) -> tuple[str, ...]:
    return (
        role,
        side.revision,
        f"{side.failures}/{side.requests}",
        _seconds(side.latency_p50_s),
        _seconds(side.latency_p95_s),
        _share(side.recognised_share),
    )


def show(run: EvaluationRun) -> None:
    """The report's figures, checks and verdict, and where it was written."""
    evaluation = run.evaluation
    comparison = evaluation.comparison
    table = Table("", "revision", "failed", "p50", "p95", "recognised", title=evaluation.name)
    table.add_row(*_row("baseline", comparison.baseline))
    table.add_row(*_row("candidate", comparison.candidate))
    console.print(table)
    pixel, ssim = comparison.pixel_difference_mean, comparison.ssim_mean
    console.print(
        f"{len(comparison.pairs)} pairs (of {evaluation.window.found} requests in the window): "
        f"mean pixel difference {'-' if pixel is None else f'{pixel:.3f}'}, "
        f"mean SSIM {'-' if ssim is None else f'{ssim:.3f}'}"
    )
    for check in evaluation.checks:
        mark = "[green]pass[/green]" if check.passed else "[red]FAIL[/red]"
        console.print(f"  {mark} {check.rule}: {check.text}", highlight=False)
    verdict = "[green]PASSED[/green]" if evaluation.passed else "[red]FAILED[/red]"
    console.print(f"{evaluation.evaluation_id}: {verdict}", highlight=False)
    for uri in run.uris:
        console.print(f"  {uri}", highlight=False, soft_wrap=True)


def evaluate_command(  # noqa: PLR0917 (typer: one parameter per option)
    candidate: Annotated[str, typer.Argument(help="NAME@REV of the candidate revision.")],
    baseline: Annotated[str, typer.Option(help="NAME@REV or NAME@ALIAS to compare with.")],
    sample: Annotated[int, typer.Option(min=1, help="At most this many requests.")] = 200,
    start: Annotated[
        str, typer.Option("--from", help="Window start: offset, time, -1h, earliest.")
    ] = "-1h",
    end: Annotated[str, typer.Option("--to", help="Window end (exclusive).")] = "now",
    model: Annotated[
        str | None, typer.Option(help="The traffic's model name (default: the candidate's).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Which sample is drawn.")] = 0,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for outcomes.")] = 900,
    sheet: Annotated[Path | None, typer.Option(help="Also write the contact sheet here.")] = None,
) -> None:
    """Replay a sample of the window's requests on both revisions (batch lane, same seeds),
    compare the outcomes and record the report next to the candidate's manifest."""
    # numpy, scikit-learn and the replay load only when an evaluation runs.
    from infra.evaluation.run import EvaluationPlan, evaluate  # noqa: PLC0415

    plan = EvaluationPlan(
        candidate=parse_ref(candidate, need_revision=True),
        baseline=parse_ref(baseline, need_revision=True),
        sample=sample,
        start=start,
        end=end,
        seed=seed,
        timeout_s=timeout,
        model=model,
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=err_console) as progress:
        published = progress.add_task("publishing", total=None)
        outcomes = progress.add_task("outcomes", total=None)
        run = evaluate(
            Settings(),
            plan,
            on_published=lambda done, total: progress.update(
                published, completed=done, total=total
            ),
            on_outcome=lambda done, total: progress.update(outcomes, completed=done, total=total),
        )
    show(run)
    if sheet is not None:
        sheet.write_bytes(run.sheet_png)
    if not run.evaluation.passed:
        raise typer.Exit(1)
