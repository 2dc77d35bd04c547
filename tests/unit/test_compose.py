"""docker-compose.yml stays in step with the local stack."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.stack.kafka import kafka_version

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def test_compose_pins_the_same_kafka_and_provisions_topics() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert services["kafka"]["image"] == f"apache/kafka:{kafka_version()}"
    assert services["minio"]["image"].startswith("minio/minio:RELEASE.")
    assert "diffstream topics create" in " ".join(services["init"]["command"])
    assert services["processor"]["command"] == ["diffstream", "process"]
    assert services["processor"]["build"]["args"]["EXTRAS"] == "inference"


def _compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _compose_available(), reason="the docker compose plugin is not installed")
def test_docker_compose_config_is_valid() -> None:
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
