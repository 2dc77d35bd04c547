"""The monolith most teams build first: FastAPI on uvicorn, the model called per request.

No batching: each request is one engine call (a plain ``def`` route runs on Starlette's
thread pool, and the engine serialises calls on its lock).
``python -m benchmarks.peers.plain_fastapi --port 8000``
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Response

from benchmarks.peers.common import Model

models: dict[str, Model] = {}


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    models["model"] = Model()  # loaded before the server accepts a request
    yield


app = FastAPI(lifespan=lifespan)


@app.post("/generate")
def generate(body: dict[str, Any]) -> Response:
    [png] = models["model"].generate([body])
    return Response(png, media_type="image/png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    port = parser.parse_args().port
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
