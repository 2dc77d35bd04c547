"""`diffstream gateway`: the app on uvicorn (uvloop and httptools when installed)."""

from __future__ import annotations

import logging
import threading

import uvicorn

from diffstream.settings import Settings
from producers.gateway.app import create_app
from producers.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


def serve_gateway(settings: Settings, gateway: GatewaySettings) -> None:
    """Serve until interrupted (SIGINT/SIGTERM end it gracefully)."""
    server = uvicorn.Server(gateway_config(settings, gateway))
    server.run()


def serve_gateway_until(
    settings: Settings, gateway: GatewaySettings, stop: threading.Event
) -> None:
    """Serve until ``stop`` is set (for `diffstream run`, where the gateway is one thread)."""
    server = uvicorn.Server(gateway_config(settings, gateway))

    def exit_on_stop() -> None:
        stop.wait()
        server.should_exit = True

    watcher = threading.Thread(target=exit_on_stop, name="gateway-stop", daemon=True)
    watcher.start()
    log.info("gateway on http://%s:%d", gateway.host, gateway.port)
    server.run()
    if not stop.is_set():
        raise RuntimeError(f"the gateway stopped on its own (is port {gateway.port} taken?)")


def gateway_config(settings: Settings, gateway: GatewaySettings) -> uvicorn.Config:
    """The uvicorn configuration of the gateway."""
    return uvicorn.Config(
        create_app(settings, gateway),
        host=gateway.host,
        port=gateway.port,
        access_log=False,
        log_config=None,  # diffstream configures logging; uvicorn must not replace it
        timeout_graceful_shutdown=5,
    )
