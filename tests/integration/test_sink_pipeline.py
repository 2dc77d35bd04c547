"""End to end with tiny-sd: request -> processor -> image sink -> MinIO -> completed -> webhook."""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from standardwebhooks.webhooks import Webhook

from diffstream.s3 import make_s3_client
from diffstream.settings import ProcessorSettings, Settings
from processors.engine.engine import InferenceEngine
from processors.worker import StreamProcessor
from schemas.builders import new_request
from schemas.events import EventName
from schemas.topics import COMPLETED, REQUESTS, STATUS
from sinks.images import ImageSink
from sinks.notify import Notifier
from tests.integration.sinks_support import SECRET, isolate, publish, read_committed, wait_for
from tests.integration.threads import on_threads
from tests.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.integration


@pytest.fixture
def isolated(settings: Settings) -> Settings:
    own = isolate(settings)
    return own.model_copy(
        update={
            "processor": ProcessorSettings(
                group_id=f"{own.topic_prefix}processors",
                instance_id=f"{own.topic_prefix}worker",
                session_timeout_ms=6000,
                max_batch_wait_ms=20,
            )
        }
    )


@pytest.fixture
def roles(isolated: Settings, engine: InferenceEngine) -> Iterator[tuple[ImageSink, Notifier]]:
    sink, notifier = ImageSink(isolated), Notifier(isolated)
    with on_threads(StreamProcessor(isolated, engine).run, sink.run, notifier.run) as threads:
        yield sink, notifier
    for thread in threads:
        assert not thread.is_alive(), f"{thread.name} did not stop"


def test_request_to_bucket_to_webhook(
    isolated: Settings, roles: tuple[ImageSink, Notifier], tmp_path: Path
) -> None:
    with receiving(Receiver()) as receiver:
        requests = [
            new_request(
                f"a lighthouse {i}",
                seed=i,
                width=64,
                height=64,
                steps=2,
                num_images=2 if i == 0 else 1,
                callback={"url": receiver.url, "events": ["completed", "failed"]},
            )
            for i in range(3)
        ]
        publish(isolated, REQUESTS, EventName.REQUEST, requests)
        completed = read_committed(isolated, COMPLETED, expected=3)
        wait_for(lambda: len(receiver.received) >= 3, what="three webhooks")

    ids = Counter(str(c["request_id"]) for c in completed)
    assert set(ids) == {str(r["request_id"]) for r in requests}
    assert max(ids.values()) == 1, "a request got more than one completed event"

    s3 = make_s3_client(isolated)
    for event in completed:
        request = next(r for r in requests if r["request_id"] == event["request_id"])
        assert len(event["images"]) == request["num_images"]
        assert event["timings"]["storage_s"] > 0
        assert event["timings"]["end_to_end_s"] >= event["timings"]["inference_s"]
        assert event["context"]["callback"]["url"] == receiver.url
        for image in event["images"]:
            bucket, key = image["uri"].removeprefix("s3://").split("/", 1)
            assert bucket == isolated.s3_bucket
            assert key.endswith(f"{request['request_id']}/{image['index']}.png")
            response = s3.get_object(bucket, key)
            try:
                data = response.read()
                assert response.headers["content-type"] == "image/png"
                assert response.headers["x-amz-meta-seed"] == str(image["seed"])
                assert response.headers["x-amz-meta-request-id"] == str(request["request_id"])
            finally:
                response.close()
                response.release_conn()
            assert hashlib.sha256(data).hexdigest() == image["sha256"]
            assert len(data) == image["size_bytes"]
            png = Image.open(io.BytesIO(data))
            assert png.format == "PNG"
            assert request["prompt"] in png.info["parameters"]

    statuses = read_committed(isolated, STATUS, expected=6, settle_s=0.5)
    states = Counter(s["state"] for s in statuses)
    assert states["completed"] == 3

    webhooks = {r.headers["webhook-id"]: r for r in receiver.received}
    assert len(webhooks) == 3
    for webhook in webhooks.values():
        payload = Webhook(SECRET).verify(webhook.body, webhook.headers)
        assert payload["type"] == "generation.completed"
        assert payload["data"]["images"][0]["uri"].startswith(f"s3://{isolated.s3_bucket}/")
        assert json.loads(webhook.body) == payload
