"""One valid, fully populated record per event type: for docs, demos and other roles' tests."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

from schemas.builders import (
    generated_image,
    lineage,
    new_completed,
    new_failed,
    new_request,
    new_result,
    new_status,
    now_millis,
    request_context,
    source_coordinates,
    stored_image,
    timings,
)
from schemas.events import ErrorCode, EventName, RequestState
from schemas.model_aliases import new_model_alias
from schemas.signals import new_cancel, new_progress
from schemas.usage import completed_usage

# A real 1x1 PNG, so that consumers that open the image can.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082"
)


def example(event: EventName | str) -> dict[str, Any]:
    """A valid record of ``event`` with every optional field set."""
    request = new_request(
        "a lighthouse at dusk, oil painting",
        negative_prompt="blurry",
        seed=1234,
        scheduler="euler_a",
        deadline=now_millis() + timedelta(minutes=5),
        callback={"url": "https://hooks.example.com/diffstream", "events": ["completed", "failed"]},
        tenant="acme",
        labels={"campaign": "spring"},
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        tracestate="vendor=1",
        batch_id="backfill-2024-06",
        lineage=lineage(uuid.uuid4(), topic="diffusion.requests", partition=3, offset=42),
    )
    source = source_coordinates("diffusion.requests", 3, 1042)
    image = generated_image(
        index=0, data=TINY_PNG, content_type="image/png", width=512, height=512, seed=1234
    )
    spent = timings(queued_s=0.012, inference_s=0.84)
    name = EventName(event)
    if name is EventName.REQUEST:
        return request
    result = new_result(
        request,
        attempt=1,
        model="tiny-sd",
        revision="main",
        images=[image],
        timings=spent,
        source=source,
        accelerator_s=0.42,
    )
    if name is EventName.RESULT:
        return result
    if name in {EventName.COMPLETED, EventName.USAGE}:
        stored = stored_image(
            image,
            uri=f"s3://diffstream/images/{request['request_id']}/0.png",
            sha256=hashlib.sha256(TINY_PNG).hexdigest(),
            size_bytes=len(TINY_PNG),
        )
        # Completed 0.9 s after submission, as an end-to-end time for readers to show.
        finished = request["submitted_at"] + timedelta(seconds=0.9)
        completed = new_completed(result, [stored], storage_s=0.02, completed_at=finished)
        return completed if name is EventName.COMPLETED else completed_usage(result, completed)
    failed = new_failed(
        request["request_id"],
        ErrorCode.INFERENCE_ERROR,
        "CUDA error: device-side assert triggered",
        retryable=True,
        model="tiny-sd",
        source=source,
        context=request_context(request),
    )
    if name is EventName.FAILED:
        return failed
    if name is EventName.STATUS:
        timeout = dict(failed, error_code="timeout", message="inference took longer than 120 s")
        return new_status(request, RequestState.FAILED, source=source, failed=timeout)
    if name is EventName.PROGRESS:
        return new_progress(request["request_id"], step=7, steps=25, attempt=1, model="tiny-sd")
    if name is EventName.TENANT_KEY:
        return {
            "key_hash": "9f" * 32,
            "key_prefix": "ds_Zk3q",
            "tenant": "acme",
            "created_at": now_millis(),
            "updated_at": now_millis(),
            "revoked": False,
            "rate_per_s": 10.0,
            "images_per_min": 600,
            "max_in_flight": 100,
            "webhook_secret": "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY",
        }
    if name is EventName.MODEL_ALIAS:
        return new_model_alias("digits", "prod", "3f2a9c41d0e7", updated_by="ops@example")
    return new_cancel(request["request_id"], reason="user closed the tab", tenant="acme")
