"""The fleet run's table: one row per figure, and a part that failed shows its error."""

from __future__ import annotations

from typing import Any

from infra.bench.fleet import fleet_figures, fleet_table


def _report() -> dict[str, Any]:
    return {
        "sim_images_per_s_per_member": 10.0,
        "side": 64,
        "requests_per_member": 120,
        "group_protocol": "consumer",
        "rounds": {
            "1": {"throughput": 10.0},
            "2": {"error": "fleet round: 100 of 240 requests had an outcome"},
            "4": {"throughput": 36.0},
        },
        "scaling_efficiency_4": 0.9,
        "join": {"error": "the joining member had no result 120s after its start"},
        "sigterm": {"members": 4, "requests": 480, "lost": 0, "more_than_one_terminal": 0},
        "lost_on_sigterm": 0,
    }


def test_every_figure_has_a_row_and_a_failed_part_names_its_error() -> None:
    rows = {row[0]: row for row in fleet_table(_report())}
    throughput = rows["fleet throughput (img/s per member count)"]
    assert throughput[1].startswith("1: 10.0, 2: fleet round: 100 of 240")
    assert throughput[1].endswith("4: 36.0")
    assert "x 1, 2, 4" in throughput[3]
    assert throughput[3].endswith("group protocol consumer")
    assert rows["scaling_efficiency_4"][1:3] == ("0.90", ">= 0.9")
    join = rows["new member: start to first result (s)"]
    assert join[1] == "the joining member had no result 120s after its start"
    assert rows["lost on SIGTERM of a member"][1:3] == ("0", "0")


def test_the_headline_figures_are_only_those_measured() -> None:
    report = _report()
    assert fleet_figures(report) == {"scaling_efficiency_4": 0.9, "lost_on_sigterm": 0}
    del report["scaling_efficiency_4"], report["lost_on_sigterm"]
    assert fleet_figures(report) == {}
