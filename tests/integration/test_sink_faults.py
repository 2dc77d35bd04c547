"""The image sink under faults: a MinIO outage, and a sink killed with SIGKILL mid-run."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from diffstream.s3 import make_s3_client
from diffstream.settings import Settings
from infra.stack.isolated import isolated_settings
from infra.stack.local import LocalStack
from schemas.topics import COMPLETED, USAGE
from sinks.images import ImageSink
from tests.integration.isolation import cli_env
from tests.integration.restarts import assert_one_each, kill_then_rerun
from tests.integration.sinks_support import isolate, publish_results, read_committed, result_record

pytestmark = pytest.mark.integration


def _objects(settings: Settings) -> list[str]:
    client = make_s3_client(settings)
    return [o.object_name or "" for o in client.list_objects(settings.s3_bucket, recursive=True)]


def test_minio_outage_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    stack = LocalStack(isolated_settings(tmp_path / "home", topic_partitions=2))
    try:
        stack.up()
        own = isolate(stack.settings)
        sink = ImageSink(own)
        stop = threading.Event()
        thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
        thread.start()
        before = [result_record(i) for i in range(10)]
        publish_results(own, before)
        read_committed(own, COMPLETED, expected=10, settle_s=0.1)

        stack.minio.process.stop()
        during = [result_record(100 + i) for i in range(10)]
        publish_results(own, during)
        time.sleep(20)
        assert thread.is_alive(), "the sink died during the outage"
        assert sink.retries > 0, "the sink never noticed the outage"
        stack.minio.start()
        stack.minio.wait_ready(60)

        completed = read_committed(own, COMPLETED, expected=20, timeout_s=60)
        stop.set()
        thread.join(30)
        ids = Counter(str(c["request_id"]) for c in completed)
        assert set(ids) == {str(r["request_id"]) for r in before + during}
        assert max(ids.values()) == 1
        objects = _objects(own)
        assert len(objects) == len(set(objects)) == 20
        stored = {c["images"][0]["uri"].split("/", 3)[3] for c in completed}
        assert stored == set(objects)
    finally:
        stack.down(purge=True)


def _sink_env(settings: Settings) -> dict[str, str]:
    sink = settings.sink
    return {
        **cli_env(settings),
        "DIFFSTREAM_SINK__GROUP_ID": sink.group_id,
        "DIFFSTREAM_SINK__INSTANCE_ID": sink.instance_id or "sink",
        "DIFFSTREAM_SINK__STATIC_MEMBERSHIP": "true",
        "DIFFSTREAM_SINK__SESSION_TIMEOUT_MS": "6000",
        "DIFFSTREAM_SINK__TRANSACTION_TIMEOUT_MS": "10000",
        "DIFFSTREAM_SINK__MAX_BATCH_SIZE": "4",
    }


def test_sigkill_mid_run_gives_one_completed_per_request(settings: Settings) -> None:
    own = isolate(settings)
    requests = [result_record(i) for i in range(60)]
    publish_results(own, requests)
    command = [sys.executable, "-c", "from sinks.cli import app; app()", "sink", "images"]
    life = kill_then_rerun(
        command,
        _sink_env(own),
        started=lambda: read_committed(own, COMPLETED, expected=4, timeout_s=60, settle_s=0.0),
        finished=lambda: read_committed(own, COMPLETED, expected=60, timeout_s=90),
    )
    assert_one_each(life, requests)
    assert len(_objects(own)) == 60
    # Usage is written in the completions' transactions: one each, none lost, none twice.
    usage = read_committed(own, USAGE, expected=60, timeout_s=30)
    assert Counter(str(u["request_id"]) for u in usage) == Counter(
        str(r["request_id"]) for r in requests
    )
