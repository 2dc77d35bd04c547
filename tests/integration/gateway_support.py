"""A real gateway for the integration tests: uvicorn on a free port, on a thread of its own."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from PIL import Image

from diffstream.settings import Settings
from infra.stack.ports import free_port
from producers.gateway.keys import create_key
from producers.gateway.serve import gateway_config
from producers.gateway.settings import GatewaySettings

# A fixed seed: a random one draws a digit the reader misreads about once in fifty.
SEVEN: dict[str, Any] = {"prompt": "a handwritten 7", "model": "digits", "steps": 12, "seed": 7}


def fetch_image(url: str) -> Image.Image:
    """The image at a presigned URL, fetched with no credentials at all (a browser's view)."""
    stored = httpx.get(url, timeout=30)
    assert stored.status_code == 200, stored.text
    return Image.open(io.BytesIO(stored.content))


def wait_state(client: httpx.Client, url: str, key: str, states: set[str]) -> dict[str, Any]:
    """The generation at ``url`` once its status is one of ``states`` (within 120 s)."""
    deadline = time.monotonic() + 120
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = client.get(url, headers=auth(key)).json()
        if body["status"] in states:
            return body
        time.sleep(0.2)
    raise AssertionError(f"{url} never reached {states}: {body}")


@contextmanager
def running_gateway(settings: Settings, **overrides: Any) -> Iterator[str]:
    """Serve the gateway for ``settings`` until the block ends; yields its base URL once
    /readyz answers 200 (Kafka and S3 reachable, keys and outcomes read up to now)."""
    values: dict[str, Any] = {"port": free_port(), "startup_timeout_s": 30.0, **overrides}
    gateway = GatewaySettings(**values)
    server = uvicorn.Server(gateway_config(settings, gateway))
    thread = threading.Thread(target=server.run, name="gateway", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{gateway.port}"
    try:
        _wait_ready(base, thread)
        yield base
    finally:
        server.should_exit = True
        thread.join(30)


def _wait_ready(base: str, thread: threading.Thread, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise AssertionError("the gateway's server thread died while starting")
        try:
            answer = httpx.get(f"{base}/readyz", timeout=5)
            if answer.status_code == 200:
                return
            last = answer.text
        except httpx.HTTPError as error:
            last = repr(error)
        time.sleep(0.2)
    raise AssertionError(f"the gateway at {base} was not ready within {timeout_s:g}s: {last}")


def new_key(settings: Settings, tenant: str, **limits: Any) -> str:
    """A live API key for ``tenant`` (generous limits unless given)."""
    values = {"rate_per_s": 200.0, "images_per_min": 6000, "max_in_flight": 500, **limits}
    return create_key(settings, tenant, **values).key


def live_key(client: httpx.Client, settings: Settings, tenant: str, **limits: Any) -> str:
    """``new_key``, once the gateway behind ``client`` accepts it (keys spread in seconds)."""
    key = new_key(settings, tenant, **limits)
    deadline = time.monotonic() + 10
    while client.get("/v1/models", headers=auth(key)).status_code != 200:
        assert time.monotonic() < deadline, "a new key was not accepted within 10 s"
        time.sleep(0.05)
    return key


def auth(key: str) -> dict[str, str]:
    """The Authorization header of ``key``."""
    return {"Authorization": f"Bearer {key}"}


def sse_events(client: httpx.Client, url: str, headers: dict[str, str]) -> list[dict[str, str]]:
    """Every event of an SSE stream until the server closes it (id, event, data)."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    with client.stream("GET", url, headers=headers, timeout=120) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line:
                if current:
                    events.append(current)
                current = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            current[name] = value.removeprefix(" ")
    if current:
        events.append(current)
    return events
