"""``docker compose config`` on docker-compose.yml, with Compose's own parser (pinned build).

tests/unit/test_compose.py checks what the file holds; this checks that Docker Compose
would run it at all: the Compose specification's schema, interpolation, anchors and merges,
every profile's services and the volumes they name. No Docker engine is needed for it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from diffstream.settings import Settings
from infra.deploy.compose import compose_path

COMPOSE = Path(__file__).parents[2] / "docker-compose.yml"
PROFILES = ("gpu", "cpu", "demo")
ROLES = {"gateway", "processor", "processor-cpu", "image-sink", "notifier", "view"}

pytestmark = [
    pytest.mark.compose,
    pytest.mark.timeout(1200),  # on a fresh machine it may wait for the Compose build
]


def compose_config(compose: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profiles = [arg for profile in PROFILES for arg in ("--profile", profile)]
    return subprocess.run(
        [str(compose_path(Settings())), "-f", str(compose), *profiles, "config", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=compose.parent,
    )


def test_compose_config_accepts_the_file_with_every_profile() -> None:
    result = compose_config(COMPOSE, "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert ROLES | {"kafka", "minio", "init", "prometheus", "grafana", "demo"} <= services.keys()
    reservation = services["processor"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert reservation["capabilities"] == ["gpu"]


def test_compose_config_rejects_a_field_the_specification_lacks(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        COMPOSE.read_text().replace(
            '    profiles: ["cpu"]\n', '    profiles: ["cpu"]\n    gpus_please: 1\n', 1
        )
    )
    result = compose_config(broken, "--quiet")
    assert result.returncode != 0
    assert "gpus_please" in result.stderr
