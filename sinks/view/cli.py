"""`diffstream view` and `diffstream request ID`: the status view and a question to it."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import typer
from prometheus_client import REGISTRY

from diffstream.exceptions import DiffstreamError
from diffstream.health import Health, serve_health
from diffstream.settings import Settings

log = logging.getLogger(__name__)

app = typer.Typer(help="The status view: latest state per request, counts per batch.")


@app.command("view")
def view() -> None:
    """Fold every request, status, completed and failed event into tables; serve them over
    HTTP (GET /requests/{id}, GET /batches/{id})."""
    import faust  # noqa: PLC0415  # faust loads only for the command that runs it

    from sinks.view.app import build_app  # noqa: PLC0415

    settings = Settings()
    health = Health()
    faust_app = build_app(settings, registry=REGISTRY, health=health)
    if settings.view.metrics_port is not None:
        serve_health(settings.view.metrics_port, alive=health.is_alive, ready=health.is_ready)
    log.info(
        "status view %s on http://%s:%d",
        faust_app.conf.id,
        settings.view.host,
        settings.view.port,
    )
    worker = faust.Worker(
        faust_app, loglevel=logging.getLogger("sinks").getEffectiveLevel(), override_logging=False
    )
    worker.execute_from_commandline()


@app.command("request")
def request(
    request_id: Annotated[str, typer.Argument(help="The request_id to look up.")],
    batch: Annotated[
        bool, typer.Option("--batch", help="ID is a batch id: print the batch's counts.")
    ] = False,
) -> None:
    """Print the latest state of one request (from the running status view) as JSON.
    Exit 1 when the view knows nothing about it, 2 when the view cannot be reached."""
    from sinks.view.client import lookup  # noqa: PLC0415

    try:
        found = lookup(Settings(), "batches" if batch else "requests", request_id)
    except DiffstreamError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    if found is None:
        typer.echo(f"unknown {'batch' if batch else 'request'}: {request_id}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(found, indent=2, sort_keys=True))
