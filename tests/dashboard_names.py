"""The metric names the Grafana dashboard and the Prometheus alert rules refer to."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

INFRA = Path(__file__).resolve().parents[1] / "infra"
DASHBOARD = INFRA / "grafana" / "dashboards" / "diffstream.json"
ALERTS = INFRA / "prometheus" / "alerts.yml"
METRIC = re.compile(r"\bdiffstream_\w+")


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def rule_exprs() -> list[str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def referenced(exprs: list[str]) -> set[str]:
    """Every ``diffstream_*`` sample name in ``exprs``."""
    return {name for expr in exprs for name in METRIC.findall(expr)}
