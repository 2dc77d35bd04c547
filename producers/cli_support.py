"""What every producer command shares: the consoles, the error printer, the broker probe."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from diffstream.broker_probe import probe_broker
from diffstream.exceptions import DiffstreamError
from diffstream.settings import Settings
from schemas.exceptions import ValidationError

console = Console()
err_console = Console(stderr=True, highlight=False)


@contextmanager
def errors() -> Iterator[None]:
    """diffstream's own errors print as clear lines and exit 2; nothing else is caught."""
    try:
        yield
    except ValidationError as exc:
        err_console.print("[red]error:[/red] invalid request, nothing was published")
        for error in exc.errors:
            err_console.print(f"  {error.message}", markup=False)
        raise typer.Exit(2) from None
    except DiffstreamError as exc:
        err_console.print("[red]error:[/red] ", end="")
        err_console.print(str(exc), markup=False)
        raise typer.Exit(2) from None


def kafka_settings() -> Settings:
    """The settings, once the cluster answered: an unreachable one fails in seconds, naming
    the bootstrap servers and the cause, instead of after a command's own long timeout."""
    settings = Settings()
    with errors():
        probe_broker(settings)
    return settings
