"""How each system is asked for one image over HTTP, until the PNG's bytes are in hand.

The peers answer the POST with the image (BentoML inside its JSON list, base64). diffstream's
client asks with ``Prefer: wait=60``: the gateway holds the POST until the outcome (``200``)
or answers ``202`` after the wait, and the client then follows the request's event stream;
it fetches the image from its ``download_url`` (the object store), so its latency runs from
submit to the image being fetchable.

The object store has a connection pool of its own (``Http.store``), as a user's S3 client
would. In one pool with the burst's ~1,500 held submits, httpcore's bookkeeping (a walk over
every connection each time a request enters or leaves the pool) held the fetches back: their
p99 in the burst was 3.9-6.0 s there, against 0.10-0.25 s in a pool of their own, with the
same stack and load.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import httpx

T = TypeVar("T")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# How long diffstream's client asks the gateway to hold a submit: its default
# DIFFSTREAM_GATEWAY__MAX_WAIT_S.
WAIT_S = 60.0
# Tries of a diffstream request whose connection broke (say, a keep-alive connection closed as
# the request went out): the submit is repeated under the same Idempotency-Key.
TRIES = 3


class NoImageError(Exception):
    """An answer that carries no image (a failed generation, a body that is not a PNG)."""


@dataclass(frozen=True, slots=True)
class Http:
    """The load generator's connection pools: one for the systems' servers, one for the
    object store diffstream's images are fetched from."""

    server: httpx.AsyncClient
    store: httpx.AsyncClient


def new_pool() -> httpx.AsyncClient:
    """No pool limit and no per-read limit: the driver's own timeout bounds each request."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=256)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(None, connect=10.0))


@asynccontextmanager
async def open_http() -> AsyncIterator[Http]:
    """Both pools, closed on the way out."""
    async with new_pool() as server, new_pool() as store:
        yield Http(server, store)


class ImageClient(Protocol):
    """One request in, its PNG's bytes out; httpx errors propagate."""

    async def image(self, http: Http, body: dict[str, Any]) -> bytes: ...


def checked(data: bytes) -> bytes:
    """``data`` if it is a PNG, else ``NoImageError``."""
    if not data.startswith(PNG_SIGNATURE):
        raise NoImageError(f"the answer is not a PNG ({len(data)} bytes: {data[:60]!r})")
    return data


@dataclass(frozen=True, slots=True)
class PngClient:
    """POST the body as JSON, the PNG comes back (plain FastAPI, Ray Serve, LitServe)."""

    url: str

    async def image(self, http: Http, body: dict[str, Any]) -> bytes:
        response = await http.server.post(self.url, json=body)
        response.raise_for_status()
        return checked(response.content)


@dataclass(frozen=True, slots=True)
class BentoClient:
    """A batchable BentoML API takes a list and answers a list: one request, one image."""

    url: str

    async def image(self, http: Http, body: dict[str, Any]) -> bytes:
        response = await http.server.post(self.url, json={"bodies": [body]})
        response.raise_for_status()
        [encoded] = response.json()
        return checked(base64.b64decode(encoded))


@dataclass(frozen=True, slots=True)
class DiffstreamClient:
    """Submit through the gateway asking to wait for the outcome (``Prefer: wait``, the
    gateway's longest), else follow the events to it; then fetch the image."""

    base_url: str
    api_key: str
    # Why each repeated try was made (for the figures: a repeat is not a lost request).
    retried: list[str] = field(default_factory=list)

    async def image(self, http: Http, body: dict[str, Any]) -> bytes:
        headers = {"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": str(uuid.uuid4())}
        done = await self._trying(lambda: self._outcome(http.server, body, headers))
        if done.get("status") != "completed":
            raise NoImageError(f"the generation ended {done.get('status')}: {done.get('error')}")
        url = done["images"][0]["download_url"]
        picture = await self._trying(lambda: http.store.get(url))
        picture.raise_for_status()
        return checked(picture.content)

    async def _trying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt``, again after a broken connection (up to ``TRIES`` in all): a repeated
        submit with the same Idempotency-Key publishes nothing and waits for the same id."""
        for _ in range(TRIES - 1):
            try:
                return await attempt()
            except httpx.TransportError as error:
                self.retried.append(type(error).__name__)
        return await attempt()

    async def _outcome(
        self, http: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        submitted = await http.post(
            f"{self.base_url}/v1/generations",
            json=body,
            headers=headers | {"Prefer": f"wait={WAIT_S:g}"},
        )
        submitted.raise_for_status()
        answer: dict[str, Any] = submitted.json()
        if submitted.status_code == 200:
            return answer
        # Still under way after the wait.
        return await self._terminal(http, answer["events_url"], headers)

    @staticmethod
    async def _terminal(
        http: httpx.AsyncClient, url: str, headers: dict[str, str]
    ) -> dict[str, Any]:
        """The data of the stream's last event (completed, failed, cancelled, expired)."""
        event, last = "", ""
        async with http.stream("GET", url, headers=headers) as stream:
            stream.raise_for_status()
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    event = line.removeprefix("event:").strip()
                elif line.startswith("data:") and event in TERMINAL:
                    last = line.removeprefix("data:").strip()
        if not last:
            raise NoImageError("the event stream ended without a terminal event")
        data: dict[str, Any] = json.loads(last)
        return data


TERMINAL = frozenset({"completed", "failed", "cancelled", "expired"})
