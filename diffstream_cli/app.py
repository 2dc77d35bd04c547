"""The root ``diffstream`` app: the global options, one mount per role, and ``main``.

Every role owns its commands in ``<role>/cli.py`` as a Typer ``app`` whose commands and
groups sit at the top level; mounting the whole app means a command a role adds needs no
edit here. Each role loads its heavy dependencies only inside its commands, so
``diffstream publish`` never loads torch (``tests/unit/test_layering.py`` checks it).
"""

from __future__ import annotations

import sys
from typing import Annotated

import pydantic
import typer
from rich.console import Console

from diffstream import tracing
from diffstream.exceptions import DiffstreamError
from diffstream.logs import configure_logging
from infra.cli import app as infra_app
from infra.evaluation.cli import evaluate_command
from processors.cli import app as processors_app
from processors.models_cli import app as models_app
from producers.cli import app as producers_app
from sinks.cli import app as sinks_app

err_console = Console(stderr=True)

app = typer.Typer(
    help="diffstream: Kafka event streaming for diffusion image generation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# publish, backfill, replay, offsets, dlq | process, train-demo-model | sink, view, request |
# stack, topics, bucket, run, demo, bench: whatever each role's app holds.
for role_app in (producers_app, processors_app, sinks_app, infra_app):
    app.add_typer(role_app)
# `models evaluate` replays producers' traffic against the processors' store: a command of
# both roles, so it is mounted here, above them, into the processors' `models` group.
models_app.command("evaluate")(evaluate_command)


@app.callback()
def _root(
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    configure_logging(log_level)


def main() -> None:
    """Entry point: diffstream's own errors print as one clear line and exit 2."""
    try:
        app()
    except DiffstreamError as exc:
        err_console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        sys.exit(2)
    except pydantic.ValidationError as exc:
        err_console.print(f"[red]invalid settings:[/red] {exc}", markup=True, highlight=False)
        sys.exit(2)
    finally:
        # A role's last spans leave before the process does (a no-op when tracing is off).
        tracing.shutdown()
