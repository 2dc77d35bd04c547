"""The versioned HTTP API (``/v1``): generations, their events and images, batches, models."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict
from sse_starlette.sse import EventSourceResponse

from producers.gateway.auth import tenant_of
from producers.gateway.bodies import InvalidBody, parse_json_object, read_body
from producers.gateway.exceptions import NotFoundError
from producers.gateway.generation import STATES, TERMINAL, event_id, parse_event_id
from producers.gateway.prefer import hold, requested_wait_s, until_terminal
from producers.gateway.render import generation_json, links
from producers.gateway.service import Gateway
from producers.operations.backfill_file import Format
from schemas.exceptions import FieldError
from schemas.tenants import TenantKey

router = APIRouter(prefix="/v1")
JSON_TYPES = ("application/json",)
MAX_IDEMPOTENCY_KEY_CHARS = 255
BATCH_TYPES = ("application/x-ndjson", "application/jsonl", "application/json", "text/csv")


class GenerationBody(BaseModel):
    """A generation request (for the OpenAPI document; the gateway checks bodies itself)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    negative_prompt: str | None = None
    model: str = "tiny-sd"
    revision: str | None = None
    width: int = 512
    height: int = 512
    steps: int = 25
    guidance_scale: float = 7.5
    seed: int | None = None
    num_images: int = 1
    scheduler: str | None = None
    output_format: str = "png"
    lane: str = "interactive"
    priority: int = 0
    deadline: str | None = None
    callback: dict[str, Any] | None = None
    labels: dict[str, str] = {}


_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": GenerationBody.model_json_schema()}},
    }
}


def gateway_of(request: Request) -> Gateway:
    """The app's Gateway."""
    gateway: Gateway = request.app.state.gateway
    return gateway


async def tenant(request: Request) -> TenantKey:
    """The caller's key (the directory read up to now first, so a new key works at once)."""
    gateway = gateway_of(request)
    await gateway.ready()
    return tenant_of(request, gateway.directory)


Tenant = Annotated[TenantKey, Depends(tenant)]


def base_url(request: Request) -> str:
    """Where clients reach this gateway."""
    configured = gateway_of(request).config.public_url
    return (configured or str(request.base_url)).rstrip("/")


def _accepted(request: Request, request_id: str, status: int, state: str) -> JSONResponse:
    body = {"id": request_id, "status": state, **links(base_url(request), request_id)}
    return JSONResponse(body, status_code=status)


_SUBMIT_HEADERS: dict[str, Any] = {
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY_CHARS},
            "description": "The same key from the same tenant: the same id, published once.",
        },
        {"name": "traceparent", "in": "header", "required": False, "schema": {"type": "string"}},
        {
            "name": "Prefer",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "example": "wait=30"},
            "description": "wait=N: answer 200 with the outcome if it comes within N seconds "
            "(at most DIFFSTREAM_GATEWAY__MAX_WAIT_S), else 202 as without it.",
        },
    ]
}


@router.post("/generations", status_code=202, openapi_extra=_BODY_DOC | _SUBMIT_HEADERS)
async def create_generation(request: Request) -> Response:
    """Submit a generation; 202 once Kafka acknowledged it. A repeated ``Idempotency-Key``
    answers with the same id and publishes nothing. With ``Prefer: wait=N``, 200 and the
    outcome (as ``GET`` shows it) when it comes within N seconds."""
    # The hot path reads its headers itself: FastAPI's dependency solving costs more here
    # than validating the body.
    gateway = gateway_of(request)
    key = await tenant(request)
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_CHARS:
        problem = f"Idempotency-Key must have 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters"
        limit = MAX_IDEMPOTENCY_KEY_CHARS
        raise InvalidBody([FieldError("Idempotency-Key", idempotency_key, limit, problem)])
    wait_s = requested_wait_s(request.headers.get("prefer"), gateway.config.max_wait_s)
    raw = await read_body(request, gateway.config.max_body_bytes, JSON_TYPES)
    item, _ = await gateway.submit(
        key,
        parse_json_object(raw),
        idempotency_key=idempotency_key,
        traceparent=request.headers.get("traceparent"),
    )
    if wait_s:
        hold(request)
    if wait_s is not None and await until_terminal(gateway.view, item, wait_s):
        body = generation_json(item, base_url(request), gateway.presigner.url)
        return JSONResponse(body, headers={"Preference-Applied": f"wait={wait_s:g}"})
    return _accepted(request, item.request_id, 202, item.state or "queued")


@router.put("/generations/{request_id}", openapi_extra=_BODY_DOC)
async def put_generation(
    request: Request,
    request_id: str,
    key: Tenant,
    traceparent: Annotated[str | None, Header()] = None,
) -> Response:
    """Create a generation under a UUID of the client's choosing: 202 the first time, 200
    with its state on a repeat with the same body, 409 when the body differs."""
    gateway = gateway_of(request)
    raw = await read_body(request, gateway.config.max_body_bytes, JSON_TYPES)
    item, created = await gateway.put(key, request_id, parse_json_object(raw), traceparent)
    if created:
        return _accepted(request, item.request_id, 202, item.state or "queued")
    return JSONResponse(generation_json(item, base_url(request), gateway.presigner.url))


@router.get("/generations")
async def list_generations(  # noqa: PLR0917 (one parameter per query option)
    request: Request,
    key: Tenant,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    model: str | None = None,
    label: Annotated[list[str] | None, Query(description="KEY=VALUE, repeatable")] = None,
    status: Annotated[str | None, Query(description=" or ".join(STATES))] = None,
    batch_id: str | None = None,
) -> Response:
    """The tenant's recent generations, newest first."""
    gateway = gateway_of(request)
    await gateway.ready()
    errors: list[FieldError] = []
    before = None
    if cursor is not None:
        if cursor.isdigit():
            before = int(cursor)
        else:
            errors.append(
                FieldError("cursor", cursor, "a next_cursor", "cursor is not one we sent")
            )
    labels: dict[str, str] = {}
    for text in label or []:
        name, sep, value = text.partition("=")
        if not sep or not name:
            errors.append(
                FieldError("label", text, "KEY=VALUE", f"label {text!r} is not KEY=VALUE")
            )
        labels[name] = value
    if status is not None and status not in STATES:
        errors.append(FieldError("status", status, " or ".join(STATES), "status is not a state"))
    if errors:
        raise InvalidBody(errors)
    page = []
    found = gateway.view.recent(
        key["tenant"], before=before, model=model, labels=labels, state=status, batch_id=batch_id
    )
    for item in found:
        page.append(item)
        if len(page) == limit:
            break
    base = base_url(request)
    more = len(page) == limit and next(iter(found), None) is not None
    return JSONResponse(
        {
            "data": [generation_json(item, base, gateway.presigner.url) for item in page],
            "next_cursor": str(page[-1].seq) if more else None,
        }
    )


@router.get("/generations/{request_id}")
async def get_generation(request: Request, request_id: str, key: Tenant) -> Response:
    """A generation: its state (running with step/steps), timings, errors, image URLs."""
    gateway = gateway_of(request)
    item = await gateway.generation(key, request_id)
    return JSONResponse(generation_json(item, base_url(request), gateway.presigner.url))


@router.get("/generations/{request_id}/events")
async def generation_events(
    request: Request,
    request_id: str,
    key: Tenant,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """Server-Sent Events: status, progress, then the terminal event (completed, failed,
    cancelled or expired), after which the stream ends. Resume with ``Last-Event-ID``."""
    gateway = gateway_of(request)
    item = await gateway.generation(key, request_id)
    after = parse_event_id(last_event_id)
    base = base_url(request)

    async def stream() -> AsyncIterator[dict[str, str]]:
        sent = 0
        gateway.metrics.watchers.inc()
        try:
            while True:
                wake = gateway.view.wake_event(item.request_id)
                while sent < len(item.events):
                    name, data, order = item.events[sent]
                    sent += 1
                    if after is not None and order <= after:
                        continue  # sent before the client reconnected
                    if name in TERMINAL:
                        data = generation_json(item, base, gateway.presigner.url)
                    yield {"id": event_id(order), "event": name, "data": json.dumps(data)}
                if item.terminal:
                    return
                await wake.wait()
        finally:
            gateway.metrics.watchers.dec()

    return EventSourceResponse(stream(), ping=int(gateway.config.sse_ping_s))


@router.post("/generations/{request_id}/cancel", status_code=202)
async def cancel_generation(request: Request, request_id: str, key: Tenant) -> Response:
    """Ask that a generation not run; it ends as cancelled if no processor began it."""
    item = await gateway_of(request).cancel(key, request_id)
    return _accepted(request, item.request_id, 202, item.state or "queued")


@router.get("/generations/{request_id}/images/{index}")
async def get_image(request: Request, request_id: str, index: int, key: Tenant) -> Response:
    """302 to a fresh presigned GET URL of the image (no S3 credentials needed to open it)."""
    gateway = gateway_of(request)
    item = await gateway.generation(key, request_id)
    image = next((i for i in item.images if i["index"] == index), None)
    if item.state != "completed" or image is None:
        raise NotFoundError(f"generation {request_id} has no image {index} (it is {item.state})")
    return RedirectResponse(gateway.presigner.url(image["uri"]), status_code=302)


@router.post("/batches", status_code=202)
async def create_batch(request: Request, key: Tenant) -> Response:
    """Submit a batch: JSONL (one request per line) or CSV (a header row); batch lane."""
    gateway = gateway_of(request)
    raw = await read_body(request, gateway.config.max_batch_bytes, BATCH_TYPES)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt: Format = "csv" if media == "text/csv" else "jsonl"
    batch_id, published, invalid = await gateway.batch(key, raw, fmt)
    return JSONResponse(
        {
            "id": batch_id,
            "accepted": published,
            "invalid": [{"line": e.line, "message": e.message} for e in invalid],
            "status_url": f"{base_url(request)}/v1/batches/{batch_id}",
        },
        status_code=202,
    )


@router.get("/batches/{batch_id}")
async def get_batch(request: Request, batch_id: str, key: Tenant) -> Response:
    """How many of the batch's requests are in each state."""
    gateway = gateway_of(request)
    await gateway.ready()
    counts = gateway.batch_counts(key, batch_id)
    return JSONResponse({"id": batch_id, "total": sum(counts.values()), "counts": counts})


@router.get("/models")
async def list_models(request: Request, key: Tenant) -> Response:
    """The models the processors are set up to serve."""
    models = gateway_of(request).config.models
    return JSONResponse({"data": [{"id": name} for name in models]})
