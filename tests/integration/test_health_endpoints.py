"""Every role over HTTP: /healthz alive, /readyz 200 once ready, /metrics names its metrics."""

from __future__ import annotations

import httpx
import pytest

from diffstream.settings import Settings
from processors.gpu_metrics import GPU_METRIC_NAMES
from tests.dashboard_names import dashboard_exprs, referenced, rule_exprs
from tests.integration.isolation import isolate
from tests.metrics_support import metric_names, running_pipeline

pytestmark = pytest.mark.integration

# One of each role's own metrics: the run port carries processor, image sink and notifier.
EXPECTED = {
    "run": {
        "diffstream_processor_consumer_lag",
        "diffstream_sink_put_seconds",
        "diffstream_webhook_in_flight",
        "process_resident_memory_bytes",
    },
    "gateway": {"diffstream_gateway_interactive_lag"},
}


def test_every_role_serves_health_readiness_and_metrics(settings: Settings) -> None:
    scraped: set[str] = set()
    with running_pipeline(isolate(settings)) as bases:
        for role, base in bases.items():
            assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200, role
            assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200, role
            names = metric_names(f"{base}/metrics")
            missing = EXPECTED[role] - names
            assert not missing, f"{role} does not export {sorted(missing)}: {sorted(names)}"
            scraped |= names
    # What the dashboard and the alert rules name, against a live scrape of every role
    # (the GPU gauges exist only with CUDA).
    for source, exprs in (("dashboard", dashboard_exprs()), ("alert rules", rule_exprs())):
        unknown = referenced(exprs) - scraped - GPU_METRIC_NAMES
        assert not unknown, f"the {source} name metrics nothing exports: {sorted(unknown)}"
