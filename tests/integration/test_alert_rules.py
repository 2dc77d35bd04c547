"""``promtool check rules`` on the alert rules, with Prometheus's own parser (pinned build).

tests/unit/test_observability_names.py checks the metric names; this checks that Prometheus
would load the file at all: the YAML shape, every PromQL expression and every template.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from diffstream.settings import Settings
from infra.deploy.promtool import promtool_path

ALERTS = Path(__file__).parents[2] / "infra" / "prometheus" / "alerts.yml"

pytestmark = [
    pytest.mark.promtool,
    pytest.mark.timeout(1200),  # on a fresh machine it may wait for the promtool build
]


def check_rules(rules: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool_path(Settings())), "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_promtool_accepts_the_alert_rules() -> None:
    rules = sum(len(group["rules"]) for group in yaml.safe_load(ALERTS.read_text())["groups"])
    assert rules > 0

    result = check_rules(ALERTS)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {rules} rules found" in result.stdout


def test_promtool_rejects_a_broken_expression(tmp_path: Path) -> None:
    broken = yaml.safe_load(ALERTS.read_text())
    rule = broken["groups"][0]["rules"][0]
    rule["expr"] = "sum by (lane) (diffstream_processor_consumer_lag > 100"  # no closing ")"
    rules = tmp_path / "broken.yml"
    rules.write_text(yaml.safe_dump(broken))

    result = check_rules(rules)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED" in result.stderr
    assert rule["alert"] in result.stderr
    assert "could not parse expression" in result.stderr
    assert "unclosed left parenthesis" in result.stderr
