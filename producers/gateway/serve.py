"""`diffstream gateway`: the app on uvicorn (uvloop and httptools when installed)."""

from __future__ import annotations

import logging

import uvicorn

from diffstream.settings import Settings
from producers.gateway.app import create_app
from producers.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


def serve_gateway(settings: Settings, gateway: GatewaySettings) -> None:
    """Serve until interrupted (SIGINT/SIGTERM end it gracefully)."""
    server = uvicorn.Server(gateway_config(settings, gateway))
    server.run()


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
