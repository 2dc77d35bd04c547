"""Every metric the dashboard and the alert rules name is one the code registers.

The names come from each role's collectors registered in a fresh CollectorRegistry (no
server, no Kafka); a typo or a renamed metric in a panel or a rule fails here.
"""

from __future__ import annotations

import yaml
from prometheus_client import CollectorRegistry

from diffstream.usage_metrics import UsageMetrics
from processors.gpu_metrics import GPU_METRIC_NAMES
from processors.metrics import ProcessorMetrics
from producers.gateway.metrics import GatewayMetrics
from sinks.metrics import ImageSinkMetrics, NotifierMetrics
from tests.dashboard_names import ALERTS, dashboard_exprs, referenced, rule_exprs


def _registered() -> set[str]:
    """Every sample name the roles' collectors can expose (counter _total, histogram parts)."""
    registry = CollectorRegistry()
    for metrics in (
        ProcessorMetrics,
        GatewayMetrics,
        ImageSinkMetrics,
        NotifierMetrics,
        UsageMetrics,
    ):
        metrics.create(registry)
    names: set[str] = set()
    for family in registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names |= {f"{family.name}_{part}" for part in ("bucket", "sum", "count")}
    return names


def _unknown(exprs: list[str]) -> set[str]:
    return referenced(exprs) - _registered() - GPU_METRIC_NAMES


def test_registry_lists_histogram_and_counter_samples() -> None:
    names = _registered()
    assert "diffstream_processor_batch_size_bucket" in names
    assert "diffstream_webhook_attempts_total" in names
    assert "diffstream_processor_consumer_lag" in names


def test_dashboard_names_only_registered_metrics() -> None:
    exprs = dashboard_exprs()
    assert len(exprs) >= 14
    assert _unknown(exprs) == set()


def test_alert_rules_name_only_registered_metrics() -> None:
    assert _unknown(rule_exprs()) == set()


def test_a_misspelt_metric_is_caught() -> None:
    assert _unknown(["rate(diffstream_processor_imags_total[1m])"]) == {
        "diffstream_processor_imags_total"
    }


def test_dashboard_covers_what_the_issue_asks() -> None:
    text = " ".join(dashboard_exprs())
    for name in (
        "diffstream_processor_consumer_lag",
        "diffstream_processor_batch_size_bucket",
        "diffstream_processor_inference_seconds_bucket",
        "diffstream_webhook_attempts_total",
        "diffstream_sink_oldest_unstored_seconds",
        "diffstream_gpu_memory_reserved_bytes",
        "diffstream_gpu_utilization_percent",
        "diffstream_usage_images_total",
    ):
        assert name in text


def test_every_alert_names_what_to_do() -> None:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} == {
        "DiffstreamLagGrowing",
        "DiffstreamNoCompletionsWhileLagging",
        "DiffstreamDeadLetterSpike",
        "DiffstreamWebhookFailureRate",
        "DiffstreamResultsNearingRetention",
        "DiffstreamProcessorRestarting",
    }
    for rule in rules:
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]
