"""`diffstream bench fleet` with a fleet of 1 and 2 processor processes and tiny backlogs:
every figure is measured, and a member stopped with SIGTERM loses nothing.

No timed assertion: how well the fleet scales is the bench's figure, not this test's."""

from __future__ import annotations

from pathlib import Path

import pytest

from diffstream.settings import Settings
from infra.bench.fleet import FleetOptions, fleet_run, fleet_table

# Four rounds, each starting its processes (torch's import alone takes seconds on 2 cores).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def test_fleet_run_measures_each_count_a_join_and_a_sigterm(
    settings: Settings, tmp_path: Path
) -> None:
    said: list[str] = []
    options = FleetOptions(sizes=(1, 2), requests_per_member=20, log_dir=tmp_path)
    report = fleet_run(settings, options, said.append)
    for size in ("1", "2"):
        round_ = report["rounds"][size]
        assert "error" not in round_, round_
        assert round_["requests"] == 20 * int(size)
        assert round_["throughput"] > 0
    assert "scaling_efficiency_4" not in report  # no round of 4
    join = report["join"]
    assert join["start_to_first_result_s"] >= join["consuming_to_first_result_s"] > 0
    sigterm = report["sigterm"]
    assert (sigterm["members"], sigterm["requests"]) == (2, 40)
    assert sigterm["lost"] == sigterm["more_than_one_terminal"] == sigterm["wrong_outcome"] == 0
    assert report["lost_on_sigterm"] == 0
    assert len(fleet_table(report)) == 3
    assert said[0] == "fleet of 1: 20 requests"
