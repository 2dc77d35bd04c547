"""Usage metering through the broker: `diffstream run` (processor and image sink) killed with
SIGKILL mid-run and run again; the usage events match the terminal outcomes one to one."""

from __future__ import annotations

import csv
import io
import os
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from diffstream.settings import Settings
from producers.cli import app
from producers.operations.positions import Position
from producers.operations.usage import usage_report
from schemas.builders import new_request, now_millis
from schemas.events import EventName
from schemas.signals import new_cancel
from schemas.topics import CANCELLATIONS, COMPLETED, FAILED, REQUESTS, REQUESTS_BATCH, USAGE
from schemas.usage import outcome_of
from tests.integration.isolation import isolate
from tests.integration.producing import produce_event
from tests.integration.restarts import kill_then_rerun
from tests.integration.sinks_support import read_committed

pytestmark = pytest.mark.integration

# Slow enough on a CPU that the kill lands while batches are still to come.
SLOW: dict[str, Any] = {"width": 64, "height": 64, "steps": 12, "guidance_scale": 5.0}


def _run_env(settings: Settings, home: Path) -> dict[str, str]:
    """`diffstream run` on the isolated topics, groups and bucket (no notifier)."""
    env = {k: v for k, v in os.environ.items() if k != "DIFFSTREAM_WEBHOOKS__SIGNING_SECRET"}
    processor, sink = settings.processor, settings.sink
    # The models cache `diffstream process` uses by default: tiny-sd is built once, not per run.
    shared = Settings()
    models = shared.engine.models_path(shared.home)
    return {
        **env,
        "DIFFSTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DIFFSTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "DIFFSTREAM_HOME": str(home),
        "DIFFSTREAM_S3_ENDPOINT": settings.s3_endpoint,
        "DIFFSTREAM_S3_ACCESS_KEY": settings.s3_access_key.get_secret_value(),
        "DIFFSTREAM_S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
        "DIFFSTREAM_S3_BUCKET": settings.s3_bucket,
        "DIFFSTREAM_PROCESSOR__GROUP_ID": processor.group_id,
        "DIFFSTREAM_PROCESSOR__INSTANCE_ID": processor.instance_id or "worker",
        "DIFFSTREAM_PROCESSOR__STATIC_MEMBERSHIP": "true",
        "DIFFSTREAM_PROCESSOR__SESSION_TIMEOUT_MS": "6000",
        "DIFFSTREAM_PROCESSOR__MAX_BATCH_SIZE": "2",
        "DIFFSTREAM_SINK__GROUP_ID": sink.group_id,
        "DIFFSTREAM_SINK__INSTANCE_ID": sink.instance_id or "sink",
        "DIFFSTREAM_SINK__STATIC_MEMBERSHIP": "true",
        "DIFFSTREAM_SINK__SESSION_TIMEOUT_MS": "6000",
        "DIFFSTREAM_SINK__TRANSACTION_TIMEOUT_MS": "10000",
        "DIFFSTREAM_ENGINE__DEVICE": "cpu",
        "DIFFSTREAM_ENGINE__MODELS_DIR": str(models),
        "DIFFSTREAM_ENGINE__WARMUP": "false",
        "DIFFSTREAM_ENGINE__CPU_THREADS": "1",
    }


def _publish(settings: Settings) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Runnable requests of two tenants on both lanes, then three that end without GPU time
    (expired, cancelled, invalid); returns (runnable, refused)."""
    runnable = [
        new_request(
            f"usage {i}",
            seed=i,
            tenant=("acme", "globex")[i % 2],
            lane=("interactive", "batch")[i % 3 == 2],
            num_images=1 + (i % 2),
            **SLOW,
        )
        for i in range(6)
    ]
    expired = new_request("late", tenant="acme", deadline=now_millis() - timedelta(minutes=1))
    cancelled = new_request("never mind", tenant="globex", **SLOW)
    invalid = new_request("odd size", tenant="acme", **{**SLOW, "width": 100})
    produce_event(
        settings,
        CANCELLATIONS,
        EventName.CANCEL,
        new_cancel(cancelled["request_id"], reason="test", tenant="globex"),
    )
    refused = [expired, cancelled, invalid]
    for request in [*refused, *runnable]:
        topic = REQUESTS_BATCH if request["lane"] == "batch" else REQUESTS
        produce_event(settings, topic, EventName.REQUEST, request)
    return runnable, refused


def test_usage_matches_outcomes_one_to_one_after_sigkill(
    settings: Settings, tmp_path: Path
) -> None:
    own = isolate(settings)
    runnable, refused = _publish(own)
    requests = {str(r["request_id"]): r for r in [*runnable, *refused]}
    command = [sys.executable, "-m", "diffstream_cli", "run"]
    seen_at_kill: list[int] = []

    def started() -> None:
        # Killed once the first batch is stored: the next ones are under way or to come.
        done = read_committed(own, COMPLETED, expected=1, timeout_s=120, settle_s=0)
        seen_at_kill.append(len(done))

    life = kill_then_rerun(
        command,
        _run_env(own, tmp_path),
        started=started,
        finished=lambda: read_committed(own, COMPLETED, expected=len(runnable), timeout_s=180),
    )
    assert life.returncode == 0, life.stderr
    assert seen_at_kill[0] < len(runnable), "the kill came after every request had completed"

    outcomes = life.events + read_committed(own, FAILED, expected=len(refused), settle_s=0)
    usage = read_committed(own, USAGE, expected=len(outcomes), timeout_s=30)
    # One to one: every outcome event has exactly one usage event, and nothing else does.
    assert Counter(str(o["request_id"]) for o in outcomes) == Counter(requests.keys())
    assert Counter(str(u["request_id"]) for u in usage) == Counter(requests.keys())

    codes = {str(o["request_id"]): o.get("error_code") for o in outcomes}
    for record in usage:
        rid = str(record["request_id"])
        request = requests[rid]
        assert record["outcome"] == outcome_of(codes[rid]), rid
        assert (record["tenant"], record["lane"]) == (request["tenant"], request["lane"])
        if record["outcome"] == "completed":
            assert record["images"] == request["num_images"]
            assert record["pixel_steps"] == request["num_images"] * 64 * 64 * 12
            assert record["accelerator_s"] > 0
        else:
            assert (record["images"], record["accelerator_s"]) == (0, 0.0)
    assert sorted(u["outcome"] for u in usage if u["outcome"] != "completed") == [
        "cancelled",
        "expired",
        "failed",
    ]

    # The report adds the same events up.
    report = usage_report(
        own, start=Position(edge="earliest"), end=Position(edge="latest"), by=["tenant"]
    )
    rows = {row.key[0]: row for row in report.rows}
    assert set(rows) == {"acme", "globex"}
    assert sum(row.requests for row in rows.values()) == len(requests)
    images = sum(r["num_images"] for r in runnable)
    assert sum(row.images for row in rows.values()) == images

    # And the command prints it as CSV.
    env = {k: v for k, v in _run_env(own, tmp_path).items() if k.startswith("DIFFSTREAM_")}
    printed = CliRunner().invoke(app, ["usage", "--by", "tenant", "--csv"], env=env)
    assert printed.exit_code == 0, printed.output
    lines = list(csv.DictReader(io.StringIO(printed.stdout)))
    assert {line["tenant"]: int(line["requests"]) for line in lines} == {
        key: row.requests for key, row in rows.items()
    }
