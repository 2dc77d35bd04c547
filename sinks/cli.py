"""The sinks' commands: `diffstream sink images|notify` (the sinks as long-running services)
and the status view's `diffstream view` and `diffstream request ID`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

import typer
from prometheus_client import REGISTRY

from diffstream.health import Health, serve_health
from diffstream.settings import Settings
from diffstream.signals import stop_on_signals
from sinks.view.cli import app as view_app

log = logging.getLogger(__name__)

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
sink_app = typer.Typer(help="Sinks: images into the object store, webhooks to callbacks.")
app.add_typer(sink_app, name="sink")
app.add_typer(view_app)  # view, request: faust loads only inside `view`


@sink_app.command("images")
def images() -> None:
    """Store results in the object store; one completed event per request, exactly once."""
    from sinks.images import ImageSink  # noqa: PLC0415  # each command loads only its own role

    settings = Settings()
    _serve(lambda: ImageSink(settings, registry=REGISTRY), settings.sink.metrics_port)


@sink_app.command("notify")
def notify() -> None:
    """POST completed and failed events to request callbacks (signed, retried, at least once)."""
    from sinks.notify import Notifier  # noqa: PLC0415  # each command loads only its own role

    settings = Settings()
    _serve(lambda: Notifier(settings, registry=REGISTRY), settings.webhooks.metrics_port)


class _Service(Protocol):
    health: Health

    def run(self, stop: threading.Event) -> None: ...


def _serve(build: Callable[[], _Service], metrics_port: int | None) -> None:
    """Build and run a service until SIGTERM or SIGINT (handled from before it is built),
    with /metrics on ``metrics_port`` if set."""
    stop = stop_on_signals()
    service = build()
    if metrics_port is not None:
        serve_health(metrics_port, alive=service.health.is_alive, ready=service.health.is_ready)
    service.run(stop)
