"""`diffstream bench` with tiny counts: every figure is measured and reported, none judged.

Timed assertions are not allowed here: the bench prints ratios against the targets, this
test only checks that the report is complete and sane.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="the bench runs the engine")

import torch

from diffstream.settings import Settings
from infra.bench.report import table
from infra.bench.runner import BenchOptions, run_bench

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings(r"ignore::DeprecationWarning:diffusers\.schedulers\."),
    pytest.mark.filterwarnings(r"ignore:__array_wrap__ must accept context:DeprecationWarning"),
]

TINY = BenchOptions(
    repeats=1,
    images_batch1=1,
    images_batch8=8,
    latency_requests=3,
    control_plane_events=500,
    null_requests=8,
    sim_requests=16,
    steps=2,
    device="cpu",
    bring_stack_up=False,
)


def test_bench_reports_every_figure(
    settings: Settings, tmp_path: Path, model_cores: tuple[int, ...] | None
) -> None:
    cores = os.sched_getaffinity(0)
    threads = torch.get_num_threads()
    try:
        report = run_bench(settings, replace(TINY, cpu_threads=1, model_cores=model_cores))
    finally:
        torch.set_num_threads(threads)  # the engine's cpu_threads is the process's
    assert os.sched_getaffinity(0) == cores, "the bench gave its cores back"
    # The report must survive a JSON round trip, as `--json` writes it.
    figures = json.loads(json.dumps(report, default=str))
    for key in (
        "ratio_batch8",
        "ratio_batch1",
        "batching_gain_ratio",
        "added_latency_p99_ms",
        "control_plane_events_per_s",
        "control_plane_vs_codec_ratio",
        "null_model_requests_per_s",
        "accelerator_busy_ratio",
    ):
        assert figures[key] > 0, key
    assert figures["added_latency_ms"]["p50"] <= figures["added_latency_ms"]["p99"]
    conditions = figures["conditions"]
    assert conditions["device"] == "cpu"
    assert conditions["cores"] >= 1
    assert conditions["torch_threads"] == 1
    assert conditions["model_cores"] == (list(model_cores) if model_cores else None)
    assert conditions["versions"]["torch"]
    assert figures["efficiency"]["batch8"]["images_per_round"] == 8
    stages = figures["added_latency_ms"]["stages_p50"]
    assert set(stages) == {"to_inference", "result_handoff", "storage", "completed_handoff"}
    sim = figures["accelerator"]
    assert figures["accelerator_busy_ratio"] <= 1.0
    assert (sim["sim_images_per_s"], sim["side"], sim["output_format"]) == (25.0, 512, "png")
    assert sim["png_compress_level"] == Settings().engine.png_compress_level
    assert 0 < sim["end_to_end_busy_ratio"]["median"] <= figures["accelerator_busy_ratio"]
    assert figures["accelerator_depth1"]["pipeline_depth"] == 1
    assert sim["pipeline_depth"] == 2
    assert figures["accelerator_busy_ratio_depth1"] > 0
    found = figures["sim_max"]
    assert found["tried"], "sim_max_img_s tried no rate"
    assert found["tried"][0]["images_per_s"] == min(TINY.sim_rates)
    if figures["sim_max_img_s"] is not None:
        assert figures["sim_max_img_s"] in [t["images_per_s"] for t in found["tried"]]
    # Two accelerator rows (pipelined and not), sim_max_img_s where there was one, and the
    # control plane against the codec.
    assert table(report).row_count == 15
