"""Fast, clear failures: an unreachable broker within seconds, refused S3 credentials by name."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from diffstream.settings import Settings
from infra.stack.ports import free_port
from producers.cli import app

pytestmark = pytest.mark.integration


def test_publish_to_a_closed_port_fails_within_five_seconds_naming_the_servers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    servers = f"127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("DIFFSTREAM_KAFKA_BOOTSTRAP", servers)
    started = time.monotonic()
    result = CliRunner().invoke(app, ["publish", "a fox", "--wait"])
    elapsed = time.monotonic() - started
    assert result.exit_code == 2, result.output
    assert elapsed < 5.0, f"took {elapsed:.1f}s"
    assert servers in result.output
    assert "DIFFSTREAM_KAFKA_BOOTSTRAP" in result.output
    assert "connection refused" in result.output


@pytest.mark.parametrize(
    ("servers", "cause"),
    [("kafka.invalid:9092", "DNS"), (f"127.0.0.1:{free_port()}", "connection refused")],
    ids=["DNS", "refused"],  # the same ids in every test worker, whatever port each picked
)
def test_an_unreachable_broker_is_one_error_without_log_spam(servers: str, cause: str) -> None:
    # A process of its own, to see what reaches its terminal; the time limit is checked in
    # process above (a loaded machine can take seconds just to start Python).
    finished = subprocess.run(
        [sys.executable, "-m", "diffstream_cli", "dlq", "list"],
        env={**os.environ, "DIFFSTREAM_KAFKA_BOOTSTRAP": servers},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2, finished.stderr
    message = " ".join(finished.stderr.split())  # rich wraps long lines
    assert message.startswith(f"error: Kafka at {servers}"), message
    assert cause in message
    # One error, no librdkafka reconnect lines (the probe's own log is at DEBUG).
    assert "FAIL" not in message
    assert "repeated" not in message


def test_wrong_s3_credentials_name_the_settings_and_the_endpoint(settings: Settings) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "diffstream_cli", "bucket", "create"],
        env={
            **os.environ,
            "DIFFSTREAM_S3_ENDPOINT": settings.s3_endpoint,
            "DIFFSTREAM_S3_BUCKET": "wrong-key-test",
            "DIFFSTREAM_S3_ACCESS_KEY": "not-the-key",
            "DIFFSTREAM_S3_SECRET_KEY": "not-the-secret",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2, finished.stderr
    message = " ".join(finished.stderr.split())  # rich may wrap the line
    assert "DIFFSTREAM_S3_ACCESS_KEY" in message
    assert "DIFFSTREAM_S3_SECRET_KEY" in message
    assert settings.s3_endpoint in message
