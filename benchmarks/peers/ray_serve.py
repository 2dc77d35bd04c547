"""Ray Serve: one deployment whose HTTP handler batches with ``@serve.batch``
(at most 8 requests, 20 ms wait), as Ray's "Dynamic Request Batching" guide shows.
``python -m benchmarks.peers.ray_serve --port 8000``
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from typing import Any

import ray
from ray import serve
from starlette.requests import Request
from starlette.responses import Response

from benchmarks.peers.common import Model


# Ray's default of 5 ongoing requests per replica would cap every batch at 5: two batches'
# worth lets one form while the other runs; the rest wait in Ray's own queue.
@serve.deployment(max_ongoing_requests=16)
class Diffusion:
    def __init__(self) -> None:
        self.model = Model()

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.02)
    async def generate(self, bodies: list[dict[str, Any]]) -> list[bytes]:
        # Off the replica's event loop, so that requests keep arriving while the model runs.
        return await asyncio.to_thread(self.model.generate, bodies)

    async def __call__(self, request: Request) -> Response:
        png = await self.generate(await request.json())
        return Response(png, media_type="image/png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    port = parser.parse_args().port
    ray.init(include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(Diffusion.bind(), route_prefix="/generate")  # type: ignore[attr-defined]
    threading.Event().wait()  # serve until killed


if __name__ == "__main__":
    main()
