"""The gateway's ASGI app: ``create_app(settings)`` wires the routes, errors, health and page."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from diffstream.settings import Settings
from producers.gateway.bodies import InvalidBody, error_items
from producers.gateway.exceptions import GatewayError, LimitExceededError
from producers.gateway.metrics import GatewayMetrics
from producers.gateway.prefer import was_held
from producers.gateway.routes import router
from producers.gateway.service import Gateway
from producers.gateway.settings import GatewaySettings
from schemas.exceptions import FieldError

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "web"
_FIELDS = {401: "Authorization", 404: "id", 409: "id", 413: "body", 415: "content-type"}


def create_app(settings: Settings | None = None, gateway: GatewaySettings | None = None) -> FastAPI:
    """The gateway app; it starts following Kafka when the server starts it (lifespan)."""
    settings = settings or Settings()
    gateway = gateway or GatewaySettings()
    registry = CollectorRegistry()
    metrics = GatewayMetrics.create(registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Gateway(settings, gateway, metrics)
        service.start(asyncio.get_running_loop())
        app.state.gateway = service
        lag_task = asyncio.create_task(_report_lag(service, metrics))
        freeze_task = asyncio.create_task(_freeze_when_ready(service))
        try:
            yield
        finally:
            lag_task.cancel()
            freeze_task.cancel()
            await asyncio.to_thread(service.close)

    app = FastAPI(
        title="diffstream gateway",
        version="1",
        summary="Submit image generations, follow their progress, fetch their images.",
        lifespan=lifespan,
        # No OpenTelemetry here (Prometheus at /metrics): its per-request checks cost more
        # than the rest of a health check.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.include_router(router)
    app.add_middleware(ResponseMetrics, metrics=metrics)
    _errors(app)
    _service_routes(app, registry)
    return app


def _errors(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, error: GatewayError) -> Response:
        item = {"field": _FIELDS.get(error.status, "body"), "limit": "", "message": error.message}
        if isinstance(error, LimitExceededError):
            item |= {"field": error.limit, "limit": error.limit}
        return JSONResponse({"errors": [item]}, status_code=error.status, headers=error.headers)

    @app.exception_handler(InvalidBody)
    async def invalid_body(request: Request, error: InvalidBody) -> Response:
        return JSONResponse({"errors": error_items(error.errors)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid_parameters(request: Request, error: RequestValidationError) -> Response:
        errors = [
            FieldError(
                ".".join(str(p) for p in problem["loc"][1:]) or "request",
                problem.get("input"),
                problem.get("ctx", {}) or problem["type"],
                f"{'.'.join(str(p) for p in problem['loc'])}: {problem['msg']}",
            )
            for problem in error.errors()
        ]
        return JSONResponse({"errors": error_items(errors)}, status_code=422)


def _service_routes(app: FastAPI, registry: CollectorRegistry) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        problems = await request.app.state.gateway.problems()
        status = 503 if problems else 200
        return JSONResponse({"ready": not problems, "problems": problems}, status_code=status)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        index = WEB_DIR / "index.html"
        if not index.is_file():
            return JSONResponse({"docs": "/docs", "api": "/v1"}, status_code=200)
        return FileResponse(index)

    app.mount("/static", StaticFiles(directory=WEB_DIR, check_dir=False), name="static")


async def _freeze_when_ready(service: Gateway) -> None:
    """Move what start-up made (modules, the app, the requests read back) out of the
    collector's sight: a full collection of it stalled every request for ~200 ms."""
    gc.freeze()
    if await service.ready():
        gc.collect(0)
        gc.freeze()


async def _report_lag(service: Gateway, metrics: GatewayMetrics) -> None:
    while True:
        metrics.interactive_lag.set(service.lag.lag)
        await asyncio.sleep(service.config.lag_check_interval_s)


class ResponseMetrics:
    """Counts responses and times them per route template (plain ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                route: Any = scope.get("route")
                name = getattr(route, "path", "other")
                if not was_held(scope):
                    self.metrics.seconds.labels(name).observe(time.perf_counter() - started)
                self.metrics.responses.labels(name, str(status[0])).inc()
            await send(message)

        await self.app(scope, receive, sending)
