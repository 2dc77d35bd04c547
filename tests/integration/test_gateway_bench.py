"""`diffstream bench gateway` with tiny counts: every figure is measured, none is judged.

Timed assertions are not allowed here: the bench prints the figures against the targets;
this test checks that the report is complete and that nothing was lost on the way.
"""

from __future__ import annotations

import pytest

from diffstream.settings import Settings
from infra.bench.gateway import gateway_table, run_gateway_bench
from infra.bench.gateway_setup import GatewayBenchOptions

pytestmark = pytest.mark.integration

TINY = GatewayBenchOptions(
    saturate_s=1,
    connections=4,
    fixed_rate=50.0,
    fixed_s=1.0,
    watchers=20,
    watched_requests=5,
    progress_steps=2,
    step_interval_s=0.2,
    bring_stack_up=False,
)


def test_the_gateway_bench_reports_every_figure(settings: Settings) -> None:
    report = run_gateway_bench(settings, TINY)
    saturation, fixed, sse = report["saturation"], report["fixed_rate"], report["sse"]
    assert saturation["accepted"] > 0
    assert saturation["errors"] == 0
    # Every 202 was acknowledged by Kafka first: the topic holds at least as many.
    kafka = report["kafka"]
    assert kafka["records_in_the_topic"] >= kafka["accepted_by_the_gateway"] > 0
    assert fixed["accepted"] == fixed["requests"] == 50
    assert fixed["errors"] == 0
    assert fixed["latency_p99_ms"] >= fixed["latency_p50_ms"] > 0
    assert sse["deliveries_seen"] == sse["deliveries_expected"] == 40
    assert sse["terminal_events_seen"] == 20
    assert sse["streams_not_closed"] == sse["errors"] == 0
    assert sse["delay_p99_ms"] >= sse["delay_p50_ms"] > 0
    assert gateway_table(report).row_count == 3
