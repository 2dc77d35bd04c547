"""The gateway on topics of a test's own with no processor reading them yet: a cancel that
lands before processing, and load shedding while the interactive lane lags."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

pytest.importorskip("sklearn", reason="the digits model needs the inference extra")

from diffstream.settings import Settings
from processors.serve import serve_processor
from tests.integration.gateway_support import SEVEN, auth, new_key, running_gateway, wait_state
from tests.integration.isolation import isolate

pytestmark = pytest.mark.integration


def test_cancel_before_processing_ends_cancelled(settings: Settings) -> None:
    # A stack of its own with no processor yet: the cancel is in before anyone reads.
    own = isolate(settings)
    key = new_key(own, "acme")
    with running_gateway(own) as url, httpx.Client(base_url=url, timeout=30) as client:
        created = client.post("/v1/generations", json=SEVEN, headers=auth(key)).json()
        cancel = client.post(f"/v1/generations/{created['id']}/cancel", headers=auth(key))
        assert cancel.status_code == 202
        stop = threading.Event()
        worker = threading.Thread(
            target=serve_processor, args=(own, stop), kwargs={"serve_metrics": False}, daemon=True
        )
        worker.start()
        try:
            done = wait_state(client, created["status_url"], key, {"cancelled", "completed"})
        finally:
            stop.set()
            worker.join(60)
        assert done["status"] == "cancelled"
        assert done["error"]["code"] == "cancelled"
        again = client.post(f"/v1/generations/{created['id']}/cancel", headers=auth(key))
        assert again.status_code == 409


def test_interactive_submits_are_shed_while_the_lane_lags(settings: Settings) -> None:
    # No processor reads this stack's topics: every interactive submit adds to the lag.
    own = isolate(settings)
    key = new_key(own, "acme")
    shedding = {"shed_interactive_lag": 2, "lag_check_interval_s": 0.2}
    with running_gateway(own, **shedding) as url, httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(3):
            assert client.post("/v1/generations", json=SEVEN, headers=auth(key)).status_code == 202
        deadline = time.monotonic() + 15
        while True:
            answer = client.post("/v1/generations", json=SEVEN, headers=auth(key))
            if answer.status_code == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["retry-after"]) >= 1
        error = answer.json()["errors"][0]
        assert error["field"] == "interactive_lag"
        assert "SHED_INTERACTIVE_LAG" in error["message"]
        batch = client.post("/v1/generations", json={**SEVEN, "lane": "batch"}, headers=auth(key))
        assert batch.status_code == 202
