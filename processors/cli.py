"""The processors' commands: ``process``, ``train-demo-model`` and ``models``.

Each command imports the engine inside itself, so that mounting these commands (and every
other command of the CLI) never loads torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from diffstream.settings import Settings
from processors.models_cli import app as models_app

console = Console()

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(models_app, name="models")


@app.command("process")
def process() -> None:
    """Run a GPU stream processor: consume requests, generate, write results exactly once."""
    from processors.serve import serve_processor

    serve_processor(Settings())


@app.command("train-demo-model")
def train_demo_model(
    out: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the pipeline (default: MODELS_DIR/digits, which the engine "
            "then loads instead of the packaged weights; never over the packaged ones)."
        ),
    ] = None,
    steps: Annotated[int, typer.Option(min=1, help="Optimiser steps.")] = 5000,
    seed: Annotated[int, typer.Option(help="The seed every random choice derives from.")] = 0,
    threads: Annotated[int, typer.Option(min=1, help="CPU threads for torch.")] = 2,
) -> None:
    """Train the `digits` model from scikit-learn's handwritten digits (about 10 minutes
    on 2 cores); the same seed and steps give the same weights on the same machine."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from processors.engine.digits import PACKAGED_WEIGHTS
    from processors.engine.digits.plan import TrainingPlan
    from processors.engine.digits.train import train_digits_model
    from schemas.prompts import DIGITS_MODEL

    settings = Settings()
    target = (out or settings.engine.models_path(settings.home) / DIGITS_MODEL).resolve()
    packaged = PACKAGED_WEIGHTS.resolve()
    if target == packaged or packaged in target.parents:
        console.print(
            f"[red]error:[/red] --out {target} is the packaged weights; they stay as shipped: "
            "leave --out out (MODELS_DIR/digits) or name another directory"
        )
        raise typer.Exit(2)
    plan = TrainingPlan(steps=steps, seed=seed, threads=threads)
    columns = (TextColumn("training"), BarColumn(), TextColumn("{task.fields[loss]}"))
    with Progress(*columns, TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task("train", total=steps, loss="")
        report = train_digits_model(
            target,
            plan,
            on_progress=lambda step, loss: progress.update(
                task, completed=step, loss=f"loss {loss:.4f}"
            ),
        )
    console.print(
        f"trained {report.parameters:,} parameters in {report.seconds / 60:.1f} min, "
        f"final loss {report.loss_curve[-1][1]:.4f}; written to {target}"
    )
