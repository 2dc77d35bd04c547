"""One HTTP port per role: /metrics (Prometheus), /healthz (alive) and /readyz (ready).

Probes and scrapers reach every role the same way; the server is prometheus-client's own
threaded WSGI server with two more routes, on a daemon thread beside the role's loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

log = logging.getLogger(__name__)

Check = Callable[[], bool]


class _QuietHandler(WSGIRequestHandler):
    """Probes every few seconds would flood the role's log: no line per request."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Health:
    """What a role tells the probes: alive until it stops, ready once connected."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._stopped = threading.Event()

    def ready(self) -> None:
        """Connected and assigned (the consumer has joined its group)."""
        self._ready.set()

    def unready(self) -> None:
        """Reconnecting or leaving: take no traffic or scaling decisions from it."""
        self._ready.clear()

    def stopped(self) -> None:
        """The role's loop has ended: restart the process."""
        self._stopped.set()
        self._ready.clear()

    def is_ready(self) -> bool:
        return self._ready.is_set() and not self._stopped.is_set()

    def is_alive(self) -> bool:
        return not self._stopped.is_set()


def health_app(
    registry: CollectorRegistry, *, alive: Check, ready: Check
) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """The WSGI app: the two probes answer 200 or 503 with a one-word body."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in ("/healthz", "/readyz"):
            good = (alive if path == "/healthz" else ready)()
            start_response(
                "200 OK" if good else "503 Service Unavailable",
                [("Content-Type", "text/plain; charset=utf-8")],
            )
            return [b"ok\n" if good else b"not ready\n" if path == "/readyz" else b"dead\n"]
        return metrics(environ, start_response)  # type: ignore[no-any-return]

    return app


def serve_health(
    port: int,
    *,
    alive: Check,
    ready: Check,
    registry: CollectorRegistry = REGISTRY,
    host: str = "0.0.0.0",  # probes and scrapers come from outside the pod
) -> WSGIServer:
    """Serve /metrics, /healthz and /readyz on ``port`` (0: any free one) from a thread."""
    server = make_server(
        host,
        port,
        health_app(registry, alive=alive, ready=ready),
        ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    log.info("health and metrics on :%d (/healthz /readyz /metrics)", server.server_port)
    return server
