"""The status view (a faust worker in a subprocess) folds real events and serves them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.admin import AdminClient
from typer.testing import CliRunner

from diffstream.kafka import make_producer
from diffstream.settings import Settings
from infra.stack.ports import free_port
from schemas.codec import Codec
from schemas.events import EventName
from schemas.examples import example
from schemas.topics import COMPLETED, FAILED, REQUESTS, REQUESTS_BATCH, STATUS
from sinks.view.cli import app as view_cli
from tests.integration.isolation import isolate

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def own(settings: Settings) -> Settings:
    isolated = isolate(settings)
    view = isolated.view.model_copy(update={"port": free_port(), "app_id": "view"})
    return isolated.model_copy(update={"view": view})


def view_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DIFFSTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DIFFSTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "DIFFSTREAM_TOPIC_PARTITIONS": str(settings.topic_partitions or ""),
        "DIFFSTREAM_VIEW__PORT": str(settings.view.port),
        "DIFFSTREAM_VIEW__APP_ID": settings.view.app_id,
        "DIFFSTREAM_HOME": str(settings.home),
    }


@pytest.fixture
def start_view(own: Settings, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Starts `python -m sinks.view view`; every one started is stopped with SIGTERM."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        log = (tmp_path / f"view-{len(started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "sinks.view", "view"],
            cwd=ROOT,
            env=view_env(own),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    for log_file in sorted(tmp_path.glob("view-*.log")):
        print(f"--- {log_file.name}\n{log_file.read_text(errors='replace')[-6000:]}")


def stop(process: subprocess.Popen[bytes], timeout_s: float = 20) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout_s)


def produce(
    settings: Settings,
    events: list[tuple[str, EventName, dict[str, Any]]],
    *,
    abort: bool = False,
) -> None:
    """Write ``events`` in one transaction (committed, or aborted with ``abort``)."""
    codec = Codec(settings)
    producer = make_producer(settings, {"transactional.id": f"view-test-{uuid.uuid4()}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for topic, event, record in events:
        producer.produce(
            settings.topic(topic),
            codec.encode(event, record),
            str(record["request_id"]).encode(),
            headers=codec.headers(event),
        )
    if abort:
        producer.flush(30)
        producer.abort_transaction(30)
    else:
        producer.commit_transaction(30)


def about(event: EventName, request_id: uuid.UUID, batch_id: str, **fields: Any) -> dict[str, Any]:
    """The example ``event`` rewritten to be about ``request_id`` in ``batch_id``."""
    record = example(event)
    record.update(request_id=request_id, **fields)
    if event is EventName.REQUEST or event is EventName.STATUS:
        record["batch_id"] = batch_id
    elif record.get("context") is not None:
        record["context"] = dict(record["context"], batch_id=batch_id)
    return record


def poll(
    process: subprocess.Popen[bytes],
    url: str,
    check: Callable[[httpx.Response], bool],
    timeout_s: float = 40,
) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    last: httpx.Response | str = "nothing yet"
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the view exited with {process.returncode}"
        try:
            last = httpx.get(url, timeout=2)
            if check(last):
                return last
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.3)
    raise AssertionError(f"{url}: gave up waiting; last answer: {getattr(last, 'text', last)}")


def test_view_folds_events_and_serves_them(
    own: Settings, start_view: Callable[[], subprocess.Popen[bytes]]
) -> None:
    batch = f"batch-{uuid.uuid4().hex[:6]}"
    done, failed, queued, aborted = (uuid.uuid4() for _ in range(4))
    stored = about(EventName.COMPLETED, done, batch)
    produce(
        own,
        [
            (REQUESTS_BATCH, EventName.REQUEST, about(EventName.REQUEST, rid, batch))
            for rid in (done, failed, queued, aborted)
        ]
        + [
            (
                STATUS,
                EventName.STATUS,
                about(
                    EventName.STATUS, done, batch, state="processing", error_code=None, message=None
                ),
            ),
            (COMPLETED, EventName.COMPLETED, stored),
            (FAILED, EventName.FAILED, about(EventName.FAILED, failed, batch)),
        ],
    )
    # Written in a transaction that is aborted: read_committed never shows it.
    produce(
        own,
        [(COMPLETED, EventName.COMPLETED, about(EventName.COMPLETED, aborted, batch))],
        abort=True,
    )
    process = start_view()
    base = f"http://127.0.0.1:{own.view.port}"

    counts = poll(
        process,
        f"{base}/batches/{batch}",
        # Events on other partitions may still be on their way: wait for all four.
        lambda r: (
            r.status_code == 200
            and (r.json()["total"], r.json()["completed"], r.json()["failed"]) == (4, 1, 1)
        ),
    ).json()
    assert counts == {
        "batch_id": batch,
        "total": 4,
        "queued": 2,
        "processing": 0,
        "completed": 1,
        "failed": 1,
        "cancelled": 0,
    }
    completed = httpx.get(f"{base}/requests/{done}").json()
    assert completed["state"] == "completed"
    assert completed["batch_id"] == batch
    assert completed["model"] == "tiny-sd"
    assert completed["tenant"] == "acme"
    assert completed["image_uris"] == [image["uri"] for image in stored["images"]]
    assert completed["timings"]["inference_s"] == pytest.approx(0.84)
    assert completed["submitted_at"] is not None
    gone = httpx.get(f"{base}/requests/{failed}").json()
    assert (gone["state"], gone["error_code"], gone["retryable"]) == (
        "failed",
        "inference_error",
        True,
    )
    assert httpx.get(f"{base}/requests/{aborted}").json()["state"] == "queued"
    missing = httpx.get(f"{base}/requests/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert httpx.get(f"{base}/batches/nope").status_code == 404

    # `diffstream request ID` asks the running view.
    runner = CliRunner()
    env = view_env(own)
    shown = runner.invoke(view_cli, ["request", str(done)], env=env)
    assert shown.exit_code == 0, shown.output
    assert '"state": "completed"' in shown.output
    assert runner.invoke(view_cli, ["request", str(uuid.uuid4())], env=env).exit_code == 1
    assert runner.invoke(view_cli, ["request", "--batch", batch], env=env).exit_code == 0

    # faust created its changelog topics itself (the broker does not auto-create).
    names = AdminClient(own.kafka_config()).list_topics(timeout=10).topics
    assert f"{own.topic_prefix}view-requests-changelog" in names
    assert f"{own.topic_prefix}view-batches-changelog" in names
    assert stop(process) == 0


def test_request_command_without_a_view(own: Settings) -> None:
    result = CliRunner().invoke(view_cli, ["request", str(uuid.uuid4())], env=view_env(own))
    assert result.exit_code == 2
    assert "cannot be reached" in result.output


def test_a_restarted_view_recovers_its_tables(
    own: Settings, start_view: Callable[[], subprocess.Popen[bytes]]
) -> None:
    batch = f"batch-{uuid.uuid4().hex[:6]}"
    first, second = uuid.uuid4(), uuid.uuid4()
    produce(own, [(REQUESTS, EventName.REQUEST, about(EventName.REQUEST, first, batch))])
    process = start_view()
    base = f"http://127.0.0.1:{own.view.port}"
    poll(process, f"{base}/requests/{first}", lambda r: r.status_code == 200)
    assert stop(process) == 0

    # While it is down: the first completes, a second arrives.
    produce(
        own,
        [
            (COMPLETED, EventName.COMPLETED, about(EventName.COMPLETED, first, batch)),
            (REQUESTS, EventName.REQUEST, about(EventName.REQUEST, second, batch)),
        ],
    )
    process = start_view()
    counts = poll(
        process,
        f"{base}/batches/{batch}",
        lambda r: r.status_code == 200 and r.json()["total"] == 2 and r.json()["completed"] == 1,
    ).json()
    # Counted once each: the table came back from its changelog, the offsets were committed.
    assert (counts["queued"], counts["completed"]) == (1, 1)
    assert httpx.get(f"{base}/requests/{first}").json()["state"] == "completed"
    assert stop(process) == 0
