"""A webhook receiver opens the image of a completed webhook with no S3 credentials."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from diffstream.settings import Settings
from schemas.examples import TINY_PNG
from sinks.images import ImageSink
from tests.integration.sinks_support import (
    SECRET,
    publish_results,
    result_record,
    running_notifier,
    wait_for,
)
from tests.integration.threads import on_threads
from tests.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.integration


@pytest.fixture
def sink(isolated: Settings) -> Iterator[ImageSink]:
    sink = ImageSink(isolated)
    with on_threads(sink.run) as (thread,):
        yield sink
    assert not thread.is_alive(), "the image sink did not stop"


def test_a_completed_webhook_carries_a_url_that_opens_without_credentials(
    isolated: Settings, sink: ImageSink
) -> None:
    with receiving(Receiver()) as receiver, running_notifier(isolated):
        record = result_record(0, callback={"url": receiver.url, "events": ["completed"]})
        publish_results(isolated, [record])
        wait_for(lambda: len(receiver.received) >= 1, timeout_s=60, what="the completed webhook")

    payload = Webhook(SECRET).verify(receiver.received[0].body, receiver.received[0].headers)
    image = payload["data"]["images"][0]
    assert image["uri"].startswith(f"s3://{isolated.s3_bucket}/")
    assert image["url_expires_at"] > payload["data"]["completed_at"]
    # Plain httpx: no S3 client, no credentials; the signature in the URL is the permission.
    response = httpx.get(image["url"], timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.content == TINY_PNG
