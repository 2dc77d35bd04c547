"""The publish API and subscriber against the real broker."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest
from typer.testing import CliRunner

from diffstream.settings import Settings
from infra.stack.ports import free_port
from producers.cli import app
from producers.client.publisher import AsyncPublisher, Publisher
from producers.client.subscriber import subscribe
from producers.exceptions import RequestFailed, WaitTimeout
from schemas.events import EventName
from schemas.examples import example
from schemas.topics import COMPLETED, FAILED, REQUESTS, REQUESTS_BATCH
from tests.integration.producing import SMALL, decode_all, produce_event, read_all

pytestmark = pytest.mark.integration


def completed_for(request_id: str) -> dict[str, Any]:
    record = example(EventName.COMPLETED)
    record["request_id"] = request_id
    record["images"][0]["uri"] = f"s3://diffstream/images/{request_id}/0.png"
    return record


def failed_for(request_id: str) -> dict[str, Any]:
    record = example(EventName.FAILED)
    record["request_id"] = request_id
    return record


def _later(action: Any, delay_s: float = 1.0) -> threading.Thread:
    def run() -> None:
        time.sleep(delay_s)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_submit_publishes_on_the_lane_topic_and_wait_returns_the_outcome(
    isolated: Settings,
) -> None:
    with Publisher(isolated) as publisher:
        interactive = publisher.submit("a lighthouse", seed=1, **SMALL)
        batch = publisher.submit("a barn", lane="batch", **SMALL)
        many = publisher.submit_many([{"prompt": f"p{i}", **SMALL} for i in range(3)])
        # The outcome arrives after wait() starts...
        _later(
            lambda: produce_event(
                isolated, COMPLETED, EventName.COMPLETED, completed_for(interactive)
            )
        )
        event = publisher.wait(interactive, timeout_s=20)
        assert event.kind == "completed"
        assert event.image_uris == [f"s3://diffstream/images/{interactive}/0.png"]
        # ...or before: wait() reads from the submit time, not from "now".
        produce_event(isolated, FAILED, EventName.FAILED, failed_for(batch))
        with pytest.raises(RequestFailed) as caught:
            publisher.wait(batch, timeout_s=20)
        assert caught.value.error_code == "inference_error"
        assert caught.value.event.value["request_id"] == uuid.UUID(batch)
        started = time.monotonic()
        with pytest.raises(WaitTimeout):
            publisher.wait(many[0], timeout_s=2)
        assert time.monotonic() - started < 6
    requests = decode_all(isolated, read_all(isolated, REQUESTS, expected=4))
    assert sorted(str(r["request_id"]) for r in requests) == sorted([interactive, *many])
    batch_lane = decode_all(isolated, read_all(isolated, REQUESTS_BATCH, expected=1))
    assert [str(r["request_id"]) for r in batch_lane] == [batch]


def test_async_publisher_submits_and_waits(isolated: Settings) -> None:
    async def go() -> tuple[list[str], str]:
        async with AsyncPublisher(isolated) as publisher:
            ids = await publisher.submit_many([{"prompt": f"a{i}", **SMALL} for i in range(5)])
            one = await publisher.submit("one more", **SMALL)
            _later(
                lambda: produce_event(isolated, COMPLETED, EventName.COMPLETED, completed_for(one))
            )
            event = await publisher.wait(one, timeout_s=20)
            assert event.request_id == one
            return ids, one

    ids, one = asyncio.run(go())
    requests = decode_all(isolated, read_all(isolated, REQUESTS, expected=6))
    assert sorted(str(r["request_id"]) for r in requests) == sorted([*ids, one])


def test_publish_wait_prints_uris_and_fails_with_the_error(
    isolated: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIFFSTREAM_KAFKA_BOOTSTRAP", isolated.kafka_bootstrap)
    monkeypatch.setenv("DIFFSTREAM_TOPIC_PREFIX", isolated.topic_prefix)
    runner = CliRunner()
    # The test plays the pipeline: it answers every request it sees with an outcome.
    stop = threading.Event()

    def answer(make: Any, topic: str, event: EventName) -> None:
        seen: set[str] = set()
        while not stop.is_set():
            for message in read_all(isolated, REQUESTS, expected=len(seen) + 1, timeout_s=1):
                key = (message.key() or b"").decode()
                if key not in seen:
                    seen.add(key)
                    produce_event(isolated, topic, event, make(key))

    thread = threading.Thread(
        target=answer, args=(completed_for, COMPLETED, EventName.COMPLETED), daemon=True
    )
    thread.start()
    try:
        result = runner.invoke(
            app,
            ["publish", "a fox", "--size", "64x64", "--steps", "2", "--wait", "--timeout", "30"],
        )
    finally:
        stop.set()
        thread.join(10)
    assert result.exit_code == 0, result.output
    request_id, uri = result.output.split()
    assert uri == f"s3://diffstream/images/{request_id}/0.png"

    # Bad input: named, refused, nothing published.
    result = runner.invoke(app, ["publish", "a fox", "--size", "65x64"])
    assert result.exit_code == 2
    assert "width=65" in result.output


def test_publish_wait_against_a_stopped_broker_fails_within_its_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()  # nothing listens there: a stopped broker
    monkeypatch.setenv("DIFFSTREAM_KAFKA_BOOTSTRAP", f"127.0.0.1:{port}")
    started = time.monotonic()
    result = CliRunner().invoke(app, ["publish", "a fox", "--wait", "--timeout", "3"])
    elapsed = time.monotonic() - started
    assert result.exit_code == 2
    # The broker probe answers before the publish timeout could (see test_cli_failures).
    assert elapsed < 5, f"took {elapsed:.1f}s"
    assert f"Kafka at 127.0.0.1:{port} (DIFFSTREAM_KAFKA_BOOTSTRAP)" in result.output
    assert "connection refused" in result.output


def test_subscriber_commits_after_processing(isolated: Settings) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    group = f"{isolated.topic_prefix}subscriber"
    for request_id in ids:
        produce_event(isolated, COMPLETED, EventName.COMPLETED, completed_for(request_id))
    produce_event(isolated, FAILED, EventName.FAILED, failed_for(ids[0]))
    seen = []
    subscription = subscribe(group=group, settings=isolated, from_beginning=True)
    try:
        for event in subscription:
            seen.append((event.kind, event.request_id))
            if len(seen) == 2:
                break  # the second one is handed out but not processed: not committed
    finally:
        subscription.close(commit=False)
    assert len(seen) == 2

    async def rest() -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        async with subscribe(group=group, settings=isolated, from_beginning=True) as events:
            async for event in events:
                found.append((event.kind, event.request_id))
                if len(found) == 3:
                    break
        return found

    again = asyncio.run(asyncio.wait_for(rest(), 60))
    assert seen[1] in again, "an event handed out but not acknowledged is redelivered"
    assert seen[0] not in again, "an event processed before the next was asked for is committed"
    everything = {*seen, *again}
    assert everything == {("completed", i) for i in ids} | {("failed", ids[0])}
