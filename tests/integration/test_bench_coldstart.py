"""`diffstream bench coldstart` on the session stack: every figure measured, none judged
(no timed assertions: the bench prints the figures and their ratio to the loaded baseline)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("sklearn", reason="the digits model needs the inference extra")

from diffstream.settings import Settings
from infra.bench.coldstart import coldstart_table, run_coldstart
from tests.integration.isolation import isolate

pytestmark = pytest.mark.integration


def test_coldstart_reports_every_figure_of_digits(settings: Settings) -> None:
    report = json.loads(json.dumps(run_coldstart(isolate(settings), ["digits"])))
    figures = report["models"]["digits"]
    for key in (
        "start_to_ready_s",
        "imports_s",
        "first_request_not_cached_s",
        "first_request_cached_on_disk_s",
        "request_loaded_s",
    ):
        assert figures[key] > 0, key
    # The probe pulled the revision into its cache (the weights alone are 3.8 MB).
    assert figures["cache_bytes"] > 3_000_000
    assert figures["not_cached_over_loaded"] > 0
    assert coldstart_table(report).row_count == 1
