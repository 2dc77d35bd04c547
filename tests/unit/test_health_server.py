"""The shared health server over real HTTP: 503 until ready, 503 on /healthz once stopped."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry, Counter

from diffstream.health import Health, serve_health


def test_probes_follow_the_role_and_metrics_are_served() -> None:
    registry = CollectorRegistry()
    Counter("diffstream_probe_checks", "a metric of this test", registry=registry).inc()
    health = Health()
    server = serve_health(
        0, alive=health.is_alive, ready=health.is_ready, registry=registry, host="127.0.0.1"
    )
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/readyz").status_code == 503
        health.ready()
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert "diffstream_probe_checks_total 1.0" in httpx.get(f"{base}/metrics").text
        health.stopped()
        assert httpx.get(f"{base}/healthz").status_code == 503
        assert httpx.get(f"{base}/readyz").status_code == 503
    finally:
        server.shutdown()
        server.server_close()
