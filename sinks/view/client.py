"""Asking a running status view about one request or batch, over its HTTP API."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import httpx

from diffstream.settings import Settings
from sinks.view.exceptions import ViewUnavailableError

log = logging.getLogger(__name__)


def view_url(settings: Settings) -> str:
    """The base URL of the view's HTTP API."""
    return f"http://{settings.view.host}:{settings.view.port}"


def lookup(settings: Settings, kind: str, key: str, *, timeout_s: float = 5.0) -> Any:
    """The view's JSON for ``/{kind}/{key}`` (``kind``: requests or batches); None when the
    view knows nothing about it; ``ViewUnavailableError`` when the view is not running."""
    url = f"{view_url(settings)}/{kind}/{quote(key, safe='')}"
    try:
        response = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise ViewUnavailableError(
            f"the status view at {view_url(settings)} cannot be reached ({exc}); start it with "
            "`diffstream view` or set DIFFSTREAM_VIEW__HOST / DIFFSTREAM_VIEW__PORT"
        ) from exc
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise ViewUnavailableError(f"the status view answered {response.status_code} for {url}")
    return response.json()
