"""The bench's diffstream client repeats a submit whose connection broke, under its key."""

from __future__ import annotations

import asyncio

import httpx

from infra.bench.peers.clients import PNG_SIGNATURE, DiffstreamClient, Http

STORE = "http://store.test/images/a.png"


def test_a_submit_whose_connection_broke_is_repeated_under_the_same_idempotency_key() -> None:
    keys: list[str] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        if len(keys) == 1:
            raise httpx.ReadError("connection closed", request=request)
        done = {"status": "completed", "images": [{"download_url": STORE}]}
        return httpx.Response(200, json=done)

    def store(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == STORE
        return httpx.Response(200, content=PNG_SIGNATURE + b"pixels")

    async def fetch() -> bytes:
        async with (
            httpx.AsyncClient(transport=httpx.MockTransport(gateway)) as server,
            httpx.AsyncClient(transport=httpx.MockTransport(store)) as objects,
        ):
            return await client.image(Http(server, objects), {"prompt": "a 7"})

    client = DiffstreamClient("http://gateway.test", "key")
    assert asyncio.run(fetch()) == PNG_SIGNATURE + b"pixels"
    assert len(keys) == 2
    assert keys[0] == keys[1], "the repeat carries the first try's key"
    assert client.retried == ["ReadError"]
