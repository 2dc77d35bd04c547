"""`diffstream stack` and `topics create` against real servers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from diffstream.settings import Settings
from infra.stack.exceptions import PortInUseError
from infra.stack.isolated import isolated_settings
from infra.stack.local import LocalStack
from infra.topic_provisioning import create_topics
from schemas.topics import RESULTS, RESULTS_MAX_MESSAGE_BYTES, STATUS, TOPICS

pytestmark = pytest.mark.integration


def test_up_is_idempotent_and_fast_when_running(stack: LocalStack) -> None:
    report = stack.up()
    assert report.started == []
    assert all(server.ready for server in report.servers)
    assert {t.action for t in report.topics} == {"unchanged"}
    assert report.seconds < 30


def test_topics_have_their_configuration(settings: Settings) -> None:
    outcomes = create_topics(settings)
    assert {o.name for o in outcomes} == {settings.topic(t.name) for t in TOPICS}
    admin = AdminClient(settings.kafka_config())
    status = ConfigResource(ConfigResource.Type.TOPIC, settings.topic(STATUS))
    results = ConfigResource(ConfigResource.Type.TOPIC, settings.topic(RESULTS))
    configs = admin.describe_configs([status, results])
    assert configs[status].result(30)["cleanup.policy"].value == "compact"
    max_bytes = configs[results].result(30)["max.message.bytes"].value
    assert int(max_bytes) == RESULTS_MAX_MESSAGE_BYTES


def test_a_taken_port_is_reported_with_the_setting_to_change(
    stack: LocalStack, tmp_path: Path
) -> None:
    clash = LocalStack(isolated_settings(tmp_path, kafka_bootstrap=stack.settings.kafka_bootstrap))
    with pytest.raises(PortInUseError, match="DIFFSTREAM_KAFKA_BOOTSTRAP"):
        clash.kafka.start()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "diffstream_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_up_status_down_leaves_nothing_behind(stack: LocalStack, tmp_path: Path) -> None:
    own = isolated_settings(tmp_path)
    env = {
        **os.environ,
        "DIFFSTREAM_HOME": str(own.home),
        "DIFFSTREAM_ARTIFACTS_DIR": str(own.artifacts),
        "DIFFSTREAM_KAFKA_BOOTSTRAP": own.kafka_bootstrap,
        "DIFFSTREAM_KAFKA_CONTROLLER_PORT": str(own.kafka_controller_port),
        "DIFFSTREAM_S3_ENDPOINT": own.s3_endpoint,
        "DIFFSTREAM_KAFKA_HEAP": "512m",
        "DIFFSTREAM_TOPIC_PARTITIONS": "1",
    }
    try:
        up = _cli(env, "stack", "up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert own.kafka_bootstrap in up.stdout
        # The built-ins are in the model store, aliased prod: the default path goes there.
        assert "models: digits@" in up.stdout
        assert "tiny-sd@" in up.stdout
        status = _cli(env, "stack", "status")
        assert status.returncode == 0, status.stdout + status.stderr
        pids = [
            LocalStack(own).kafka.process.running_process(),
            LocalStack(own).minio.process.running_process(),
        ]
        assert all(pids)
    finally:
        down = _cli(env, "stack", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "kafka" in down.stdout
    assert "minio" in down.stdout
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(p and p.is_running() for p in pids):
        time.sleep(0.1)
    assert not any(p and p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in pids)
    after = _cli(env, "stack", "status")
    assert after.returncode == 1
    # The shared session stack was not touched.
    assert all(server.ready for server in stack.status())
