"""The public JSON of a generation: what GET answers and what SSE events carry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from producers.gateway.generation import COMPLETED_STATE, RUNNING, Generation

_TIMINGS = ("queued_s", "inference_s", "storage_s", "end_to_end_s")


def links(base: str, request_id: str) -> dict[str, str]:
    """Where a generation's status and events are."""
    return {
        "status_url": f"{base}/v1/generations/{request_id}",
        "events_url": f"{base}/v1/generations/{request_id}/events",
    }


def generation_json(item: Generation, base: str, presign: Any = None) -> dict[str, Any]:
    """A generation as the API shows it; ``presign(uri)`` adds ``download_url`` per image."""
    request = item.request or {}
    body: dict[str, Any] = {
        "id": item.request_id,
        "status": item.state or "queued",
        "model": item.model,
        "prompt": request.get("prompt"),
        "lane": request.get("lane"),
        "labels": item.labels,
        "batch_id": item.batch_id,
        "created_at": _time(item.submitted_at),
        "updated_at": _time(item.updated_at),
        **links(base, item.request_id),
    }
    if item.state == RUNNING:
        body |= {"step": item.step, "steps": item.steps}
    if item.error is not None:
        body["error"] = {k: item.error.get(k) for k in ("code", "field", "message")}
    if item.timings:
        body["timings"] = {k: item.timings.get(k) for k in _TIMINGS}
    if item.state == COMPLETED_STATE:
        body["images"] = [_image(image, base, item.request_id, presign) for image in item.images]
    return body


def _image(image: dict[str, Any], base: str, request_id: str, presign: Any) -> dict[str, Any]:
    shown = {
        "index": image["index"],
        "url": f"{base}/v1/generations/{request_id}/images/{image['index']}",
    }
    shown |= {k: image[k] for k in ("content_type", "width", "height", "seed") if image.get(k)}
    if presign is not None:
        shown["download_url"] = presign(image["uri"])
    return shown


def _time(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds") if value is not None else None
