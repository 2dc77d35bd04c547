"""The peers table: one row per system, then the ratios against diffstream."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from infra.bench.peers.figures import DIFFSTREAM


def peers_table(report: dict[str, Any]) -> Table:
    """Burst completed/s (saturation), steady and burst p50/p99, errors, timeouts, lost."""
    c = report["conditions"]
    out = Table(
        "system",
        "steady done/s",
        "steady p50 / p99 s",
        "burst done/s",
        "burst p50 / p99 s",
        "errors / timeouts",
        "lost on kill -9",
        "vs: throughput / p99",
        title=(
            f"diffstream bench peers: {c['model']} {c['side']}x{c['side']}, {c['steps']} steps, "
            f"{c['device']}; {c['cpu']}, {c['cores']} cores; bare loop "
            f"{_number(report['capacity']['images_per_s'])} img/s; offered "
            f"{report['rates']['steady_per_s']:.1f} then {report['rates']['burst_per_s']:.1f} req/s"
        ),
    )
    for name, system in report["systems"].items():
        if system["status"] != "ok":
            out.add_row(name, f"{system['status']}: {system['reason']}", *[""] * 6)
            continue
        steady, burst, kill = system["steady"], system["burst"], system["kill"]
        versus = ""
        if name != DIFFSTREAM:
            throughput = report.get(f"vs_{name}_throughput")
            p99 = report.get(f"vs_{name}_p99_burst")
            versus = f"{_number(throughput)} / {_number(p99)}"
        out.add_row(
            name,
            f"{steady['completed_per_s']:.1f}",
            f"{_number(steady['p50_s'])} / {_number(steady['p99_s'])}",
            f"{burst['completed_per_s']:.1f}",
            f"{_number(burst['p50_s'])} / {_number(burst['p99_s'])}",
            f"{steady['errors'] + burst['errors']} / {steady['timeouts'] + burst['timeouts']}",
            f"{kill['lost']} of {kill['offered']}",
            versus,
        )
    return out


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
