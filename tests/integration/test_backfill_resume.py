"""A backfill interrupted halfway and run again: every line published once, every image made."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from diffstream.s3 import make_s3_client
from diffstream.settings import Settings
from processors.engine.engine import InferenceEngine
from processors.worker import StreamProcessor
from producers.cli import app
from producers.operations.backfill import run_backfill
from producers.operations.backfill_manifest import read_manifest
from schemas.topics import COMPLETED, REQUESTS_BATCH
from sinks.images import ImageSink
from tests.integration.producing import SMALL, isolate, read_all
from tests.integration.threads import on_threads

pytestmark = pytest.mark.integration

# A completed event is written only once the image is stored in MinIO.
IMAGES_TOPIC = COMPLETED


@pytest.fixture
def isolated(settings: Settings) -> Settings:
    own = isolate(settings)
    # Bigger passes: 200 CPU images in as few forward passes as the lane allows.
    processor = own.processor.model_copy(update={"max_batch_size": 32, "max_batch_wait_ms": 50})
    return own.model_copy(update={"processor": processor})


@pytest.fixture
def processor(isolated: Settings, engine: InferenceEngine) -> Iterator[StreamProcessor]:
    """A processor and an image sink, as `diffstream run` would start them."""
    running = StreamProcessor(isolated, engine)
    with on_threads(running.run, ImageSink(isolated).run) as threads:
        yield running
    for thread in threads:
        assert not thread.is_alive(), "a role did not stop"


def test_interrupted_backfill_publishes_each_line_once(
    isolated: Settings, processor: StreamProcessor, tmp_path: Path
) -> None:
    file = tmp_path / "prompts.jsonl"
    lines = [json.dumps({"prompt": f"prompt {i}", "seed": i, **SMALL}) for i in range(200)]
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")

    # The first run stops halfway, as an interrupted one would.
    first = run_backfill(isolated, file, batch_id="resume", limit=100)
    assert (first.already_published, first.published) == (0, 100)

    second = run_backfill(
        isolated,
        file,
        batch_id="resume",
        follow=True,
        follow_timeout_s=120,
        completed_topic=IMAGES_TOPIC,
    )
    assert (second.already_published, second.published) == (100, 100)
    assert (second.completed, second.pending, second.failures) == (200, 0, [])

    keys = Counter(m.key() for m in read_all(isolated, REQUESTS_BATCH, expected=200))
    assert len(keys) == 200
    assert max(keys.values()) == 1, "a line was published twice"
    images = Counter(m.key() for m in read_all(isolated, IMAGES_TOPIC, expected=200))
    assert set(images) == set(keys)
    assert max(images.values()) == 1
    stored = list(
        make_s3_client(isolated).list_objects(
            isolated.s3_bucket, prefix=f"{isolated.sink.key_prefix}/", recursive=True
        )
    )
    assert len(stored) == 200, "every image is in the bucket, once"

    manifest = read_manifest(isolated, "resume")
    assert [row["line"] for row in manifest] == list(range(1, 201))
    assert {row["status"] for row in manifest} == {"completed"}
    assert second.manifest_uri == f"s3://{isolated.s3_bucket}/backfills/resume/manifest.jsonl"

    # A third run finds nothing missing.
    third = run_backfill(isolated, file, batch_id="resume")
    assert (third.already_published, third.published) == (200, 0)


def test_backfill_cli_reports_bad_lines_and_publishes_the_rest(
    isolated: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIFFSTREAM_KAFKA_BOOTSTRAP", isolated.kafka_bootstrap)
    monkeypatch.setenv("DIFFSTREAM_TOPIC_PREFIX", isolated.topic_prefix)
    monkeypatch.setenv("DIFFSTREAM_S3_ENDPOINT", isolated.s3_endpoint)
    monkeypatch.setenv("DIFFSTREAM_S3_BUCKET", isolated.s3_bucket)
    file = tmp_path / "mixed.csv"
    file.write_text(
        "prompt,width,height,steps\na fox,64,64,2\na bear,65,64,2\na cat,64,64,2\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["backfill", str(file), "--batch-id", "cli", "--rate", "50"])
    assert result.exit_code == 1, result.output
    assert "line 3:" in result.output
    assert "width=65" in result.output
    assert "2 published now" in result.output
    assert "backfills/cli/manifest.jsonl" in result.output
    assert len(read_all(isolated, REQUESTS_BATCH, expected=2)) == 2
    rows = read_manifest(isolated, "cli")
    assert [(r["line"], r["status"]) for r in rows] == [
        (2, "pending"),
        (3, "invalid"),
        (4, "pending"),
    ]
