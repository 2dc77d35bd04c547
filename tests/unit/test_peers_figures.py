"""The peers bench's arithmetic: arrivals, offered rates, phase figures, lost requests, ratios."""

from __future__ import annotations

import itertools
import statistics
from typing import Any

import httpx
import pytest

from infra.bench.peers.clients import NoImageError
from infra.bench.peers.driver import classify
from infra.bench.peers.figures import (
    Record,
    arrival_times,
    burst_vs_bare,
    lost,
    phase_rates,
    ratios,
    summary,
)


def test_fixed_rate_arrivals_are_evenly_spaced() -> None:
    due = arrival_times(4.0, 2.5, poisson=False)
    assert due == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25]


def test_poisson_arrivals_are_seeded_and_keep_the_rate() -> None:
    due = arrival_times(50.0, 200.0, poisson=True, seed=7)
    assert due == arrival_times(50.0, 200.0, poisson=True, seed=7)
    assert due != arrival_times(50.0, 200.0, poisson=True, seed=8)
    assert all(0 <= a < b < 200.0 for a, b in itertools.pairwise(due))
    # 10,000 arrivals expected; a Poisson count's standard deviation is 100.
    assert 9_500 < len(due) < 10_500
    gaps = [b - a for a, b in itertools.pairwise(due)]
    assert statistics.mean(gaps) == pytest.approx(1 / 50, rel=0.05)


def test_no_rate_or_no_time_means_no_arrivals() -> None:
    assert arrival_times(0.0, 10.0, poisson=True) == []
    assert arrival_times(10.0, 0.0, poisson=False) == []


def test_steady_is_a_share_of_the_capacity_and_the_burst_a_multiple() -> None:
    steady, burst = phase_rates(40.0, steady_fraction=0.8, burst_factor=5.0, max_rate=None)
    assert steady == pytest.approx(32.0)
    assert burst == pytest.approx(160.0)
    # The null model's bare loop runs thousands a second: the cap holds the steady rate.
    assert phase_rates(5000.0, steady_fraction=0.8, burst_factor=5.0, max_rate=10.0) == (
        10.0,
        50.0,
    )


def test_a_phase_counts_outcomes_and_failures_count_as_the_timeout() -> None:
    records = [
        Record(due=0.0, ended=1.0, outcome="ok"),
        Record(due=1.0, ended=3.0, outcome="ok"),
        Record(due=2.0, ended=4.0, outcome="ok"),
        Record(due=3.0, ended=9.0, outcome="timeout", detail="timeout"),
        Record(due=4.0, ended=4.1, outcome="refused", detail="connection refused"),
        Record(due=5.0, ended=5.5, outcome="error", detail="HTTP 500"),
    ]
    figures = summary(records, timeout_s=6.0)
    assert figures["offered"] == 6
    assert figures["completed"] == 3
    # Three images between the first due time (0) and the last image (4).
    assert figures["completed_per_s"] == pytest.approx(0.75)
    # Latencies 1, 2, 2 and three failures at the timeout (6): the median is (2 + 6) / 2.
    assert figures["p50_s"] == pytest.approx(4.0)
    assert figures["p99_s"] == pytest.approx(6.0)
    assert (figures["errors"], figures["refused"], figures["timeouts"]) == (2, 1, 1)
    assert figures["failures"] == {"timeout": 1, "connection refused": 1, "HTTP 500": 1}


def test_a_phase_without_an_image_has_no_rate() -> None:
    figures = summary([Record(due=0.0, outcome="timeout")], timeout_s=5.0)
    assert figures["completed_per_s"] == 0.0
    assert figures["p99_s"] == 5.0


def test_lost_is_taken_and_never_answered_with_an_image() -> None:
    records = [
        Record(due=0.0, outcome="ok"),
        Record(due=0.1, outcome="refused"),  # the client was told: not lost
        Record(due=0.2, outcome="error"),  # reset mid-request, or a 500
        Record(due=0.3, outcome="timeout"),
        Record(due=0.4, outcome=None),  # never finished
    ]
    assert lost(records) == 3


def test_ratios_put_diffstream_over_each_peer_for_throughput_and_under_for_p99() -> None:
    systems: dict[str, dict[str, Any]] = {
        "diffstream": {
            "status": "ok",
            "burst": {"completed_per_s": 30.0, "p99_s": 2.0, "vs_bare": 0.9},
        },
        "ray_serve": {
            "status": "ok",
            "burst": {"completed_per_s": 20.0, "p99_s": 5.0, "vs_bare": 0.6},
        },
        "litserve": {"status": "failed", "reason": "it crashed"},
        "bentoml": {"status": "ok", "burst": {"completed_per_s": 0.0, "p99_s": 1.0}},
    }
    assert ratios(systems) == {
        "vs_ray_serve_throughput": pytest.approx(1.5),
        "vs_ray_serve_p99_burst": pytest.approx(2.5),
        "vs_ray_serve_throughput_vs_bare": pytest.approx(1.5),
        "vs_litserve_throughput": None,
        "vs_litserve_p99_burst": None,
        "vs_litserve_throughput_vs_bare": None,
        "vs_bentoml_throughput": None,  # no image at all: no ratio, not infinity
        "vs_bentoml_p99_burst": pytest.approx(0.5),
        "vs_bentoml_throughput_vs_bare": None,  # no bare loop around it
    }


def test_no_ratio_without_a_diffstream_figure() -> None:
    systems = {"fastapi": {"status": "ok", "burst": {"completed_per_s": 9.0, "p99_s": 3.0}}}
    assert ratios(systems) == {
        "vs_fastapi_throughput": None,
        "vs_fastapi_p99_burst": None,
        "vs_fastapi_throughput_vs_bare": None,
    }


def test_a_burst_is_read_against_the_bare_loop_measured_around_it() -> None:
    # The machine sped up from 15 to 25 img/s across the system's run: its 16/s is 0.8 of
    # the bare loop of its time, whatever the first measurement said.
    assert burst_vs_bare({"completed_per_s": 16.0}, 15.0, 25.0) == pytest.approx(0.8)
    assert burst_vs_bare({"completed_per_s": 16.0}, None, 25.0) is None  # bare loop skipped
    assert burst_vs_bare({"completed_per_s": 16.0}, 0.0, 0.0) is None


def test_failures_are_classified_by_what_the_client_knows() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/generate")

    def status(code: int) -> httpx.HTTPStatusError:
        response = httpx.Response(code, request=request)
        return httpx.HTTPStatusError("status", request=request, response=response)

    assert classify(TimeoutError()) == ("timeout", "timeout")
    assert classify(httpx.ConnectError("refused")) == ("refused", "connection refused")
    assert classify(status(503)) == ("refused", "HTTP 503")
    assert classify(status(429)) == ("refused", "HTTP 429")
    assert classify(status(500)) == ("error", "HTTP 500")
    assert classify(httpx.ReadError("reset")) == ("error", "ReadError")
    assert classify(NoImageError("not a PNG"))[0] == "error"
