"""`diffstream bench peers` with the null model and a few seconds per system: every figure is
measured and none is judged (the bench prints ratios; timed assertions are not allowed).

diffstream and the plain FastAPI server always run; Ray Serve, BentoML and LitServe run when
the peers extra is installed.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import Any

import pytest
from rich.console import Console

from diffstream.kafka import make_admin
from diffstream.settings import Settings
from infra.bench.peers.options import PeersOptions
from infra.bench.peers.report import peers_table
from infra.bench.peers.runner import run_peers
from infra.bench.peers.systems import missing_framework
from tests.integration.sinks_support import wait_for

pytestmark = pytest.mark.integration

SMOKE = PeersOptions(
    model="null",
    # A fixed rate: the bare loop is not needed for it (and its torch import is spared).
    capacity_s=0.0,
    rate=5.0,
    warmup_s=1.0,
    steady_s=1.5,
    burst_s=1.0,
    kill_s=2.0,
    timeout_s=20.0,
    start_timeout_s=120.0,
    bring_stack_up=False,
)


def _run(settings: Settings, systems: tuple[str, ...], **changes: Any) -> dict[str, Any]:
    options = replace(SMOKE, systems=systems, **changes)
    report = run_peers(settings, options, Console(width=160))
    json.dumps(report)  # the report is what --json writes
    assert peers_table(report).row_count == len(systems)
    return report


def _check_phases(system: dict[str, Any]) -> None:
    assert system["status"] == "ok", system
    warmup, steady, burst = system["warmup"], system["steady"], system["burst"]
    for phase in (warmup, steady, burst):
        assert isinstance(phase, dict)
        # The null model at 5 and 25 req/s: every request yields its image.
        assert phase["completed"] == phase["offered"] > 0
        assert phase["errors"] == phase["timeouts"] == 0
        assert phase["completed_per_s"] > 0
        assert phase["p99_s"] >= phase["p50_s"] > 0


def _bench_topics(settings: Settings) -> set[str]:
    topics = make_admin(settings).list_topics(timeout=10).topics
    return {name for name in topics if name.startswith("bench-peers-")}


def test_diffstream_and_the_plain_server_side_by_side(
    settings: Settings, model_cores: tuple[int, ...] | None
) -> None:
    before = _bench_topics(settings)
    report = _run(settings, ("diffstream", "fastapi"), model_cores=model_cores)
    systems = report["systems"]
    assert isinstance(systems, dict)
    for name in ("diffstream", "fastapi"):
        _check_phases(systems[name])
        kill = systems[name]["kill"]
        assert kill["offered"] > 0
        assert kill["recovery"]
    # Every request diffstream's gateway accepted reached an image, through the restart.
    assert systems["diffstream"]["kill"]["lost"] == 0
    assert systems["diffstream"]["kill"]["completed"] == systems["diffstream"]["kill"]["offered"]
    # The processor's model ran during the burst (the null model: a sliver of the wall
    # time); a peer does not say.
    assert 0 < systems["diffstream"]["burst"]["model_busy_ratio"] < 1
    assert systems["fastapi"]["burst"]["model_busy_ratio"] is None
    # The plain server is one process: its restart is the bench's.
    assert systems["fastapi"]["kill"]["recovery"].startswith("restarted by the bench")
    assert report["lost_on_kill"] == {
        "diffstream": 0,
        "fastapi": systems["fastapi"]["kill"]["lost"],
    }
    assert report["vs_fastapi_throughput"] > 0
    assert report["vs_fastapi_p99_burst"] > 0
    # Deleted topics leave the metadata soon after the deletion is accepted.
    wait_for(lambda: _bench_topics(settings) <= before, 30, "the bench's topics to be deleted")
    conditions = report["conditions"]
    assert isinstance(conditions, dict)
    assert conditions["model"] == "null"
    assert conditions["cores"] >= 1
    # The machine's cores, read before the bench gave the model's away, and those given.
    assert conditions["model_cores"] == model_cores
    if model_cores:
        assert conditions["cores"] > len(model_cores)
        assert os.sched_getaffinity(0) >= set(model_cores), "the bench's own mask came back"
    assert conditions["versions"]["fastapi"]


def _framework(peer: str) -> Any:
    """``peer`` as a parameter, skipped (saying why) when its framework is not installed."""
    reason = missing_framework(peer)
    return pytest.param(
        peer, marks=pytest.mark.skipif(reason is not None, reason=reason or ""), id=peer
    )


@pytest.mark.parametrize(
    "peer", [_framework(peer) for peer in ("ray_serve", "bentoml", "litserve")]
)
def test_a_serving_framework_under_the_same_load(settings: Settings, peer: str) -> None:
    report = _run(settings, (peer,))
    systems = report["systems"]
    assert isinstance(systems, dict)
    _check_phases(systems[peer])
    kill = systems[peer]["kill"]
    assert kill["offered"] > 0
    assert kill["lost"] >= 0
    assert kill["recovery"]
