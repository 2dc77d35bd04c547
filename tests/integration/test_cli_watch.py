"""subscribe (API and CLI), watch and cancel against the real broker and a real processor."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from typer.testing import CliRunner

from diffstream.settings import Settings
from processors.engine.engine import InferenceEngine
from processors.worker import StreamProcessor
from producers.cli import app
from producers.client.subscriber import subscribe
from schemas.builders import new_request
from schemas.events import EventName
from schemas.topics import REQUESTS
from sinks.images import ImageSink
from tests.integration.isolation import cli_env, point_cli_at
from tests.integration.producing import SMALL, isolate, produce_event
from tests.integration.threads import on_threads

pytestmark = pytest.mark.integration


def diffstream(settings: Settings, *args: str) -> subprocess.Popen[str]:
    """``diffstream ARGS`` as a process of its own (``watch``/``subscribe`` run on)."""
    return subprocess.Popen(
        [sys.executable, "-m", "diffstream_cli", "--log-level", "WARNING", *args],
        env=cli_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def processing(
    settings: Settings, engine: InferenceEngine, *, with_sink: bool = False
) -> Iterator[StreamProcessor]:
    """A processor (and the image sink, which writes completed events) while inside."""
    processor = StreamProcessor(settings, engine)
    roles: list[Any] = [processor, ImageSink(settings)] if with_sink else [processor]
    with on_threads(*(r.run for r in roles)):
        yield processor


def publish_request(settings: Settings, **fields: Any) -> str:
    record = new_request("a lighthouse at dusk", seed=7, **{**SMALL, **fields})
    produce_event(settings, REQUESTS, EventName.REQUEST, record)
    return str(record["request_id"])


def test_progress_is_subscribed_to_through_the_api_and_the_cli(
    settings: Settings, engine: InferenceEngine
) -> None:
    isolated = isolate(settings, processor={"progress_interval_ms": 1})
    request_id = publish_request(isolated, steps=4)
    steps: list[int] = []
    total = 0
    with (
        processing(isolated, engine),
        subscribe(
            events=["progress"], group="progress-test", settings=isolated, from_beginning=True
        ) as events,
    ):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (not steps or steps[-1] < total):
            event = events.poll(0.5)
            if event is not None and event.request_id == request_id:
                assert event.kind == "progress"
                steps.append(int(event.value["step"]))
                total = int(event.value["steps"])
    assert total >= 4
    assert steps[-1] == total, steps
    assert steps == sorted(steps)

    # The CLI prints the same events, one JSON object per line; Ctrl-C ends it with 0.
    process = diffstream(isolated, "subscribe", "--events", "progress", "--from", "earliest")
    assert process.stdout is not None
    lines = []
    try:
        for line in process.stdout:
            lines.append(json.loads(line))
            if lines[-1]["step"] == total:
                break
    finally:
        process.send_signal(signal.SIGINT)
        # communicate drains both pipes: a process blocked writing a full stderr pipe could
        # not exit (one loaded CI run timed out in a bare wait).
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert {line["request_id"] for line in lines} == {request_id}
    assert [line["step"] for line in lines] == steps
    assert all(line["kind"] == "progress" and line["steps"] == total for line in lines)


def test_watch_reports_a_cancel_sent_from_the_cli(
    settings: Settings, engine: InferenceEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolated = isolate(settings)
    # Queued with no processor running: the cancel lands before any inference can begin.
    request_id = publish_request(isolated)
    watcher = diffstream(isolated, "watch", request_id, "--timeout", "120")
    point_cli_at(isolated, monkeypatch)
    result = CliRunner().invoke(app, ["cancel", request_id, "--reason", "changed my mind"])
    assert result.exit_code == 0, result.output
    assert f"cancel of {request_id} sent" in result.output
    with processing(isolated, engine):
        stdout, stderr = watcher.communicate(timeout=150)
    assert watcher.returncode == 3, stderr
    assert "cancelled" in stderr
    assert stdout == ""


def test_watch_ends_with_the_images_of_a_completed_request(
    settings: Settings, engine: InferenceEngine
) -> None:
    isolated = isolate(settings, sink={"create_bucket": True})
    request_id = publish_request(isolated, steps=2, num_images=2)
    watcher = diffstream(isolated, "watch", request_id, "--timeout", "120")
    with processing(isolated, engine, with_sink=True):
        stdout, stderr = watcher.communicate(timeout=150)
    assert watcher.returncode == 0, stderr
    links = stdout.split()
    assert len(links) == 2, stdout
    assert all(link.startswith(("s3://", "http")) and request_id in link for link in links)


def test_watch_rejects_what_is_not_a_request_id(settings: Settings) -> None:
    watcher = diffstream(isolate(settings), "watch", "not-an-id")
    _, stderr = watcher.communicate(timeout=60)
    assert watcher.returncode == 2
    assert "expected a UUID" in stderr
