"""The bench's figures as one JSON document and as a rich table (the same numbers)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from infra.bench.fleet import fleet_table

TARGETS = {
    "ratio_batch8": ">= 0.95",
    "batching_gain_ratio": ">= 0.90",
    "added_latency_p50_ms": "<= 20",
    "added_latency_p99_ms": "<= 50",
    "control_plane_events_per_s": ">= 50,000",
    "control_plane_vs_codec_ratio": ">= 0.5",
    "accelerator_busy_ratio": ">= 0.95",
}
STAGE_NAMES = {
    "finishing": "encoding and commit of the batch before",
    "intake": "gathering the next batch",
    "hand_off": "hand-off to the accelerator thread",
    "in_stage": "attempt records around the model call",
}


def _spread_text(spread: dict[str, Any], digits: int = 2) -> str:
    if spread["runs"] == 1:
        return f"{spread['median']:,.{digits}f}"
    return (
        f"{spread['median']:,.{digits}f} ({spread['min']:,.{digits}f}-{spread['max']:,.{digits}f})"
    )


def figures_table(title: str, measured: str = "measured: median (min-max)") -> Table:
    """An empty table of the bench's columns: figure, measured, target, conditions."""
    return Table("figure", measured, "target", "conditions", title=title)


def table(report: dict[str, Any]) -> Table:
    """Figure, median (min-max over repeats), target and conditions, one row each."""
    c = report["conditions"]
    work = f"{c['model']} {c['side']}x{c['side']}, {c['steps']} steps, {c['device']}"
    out = figures_table(
        f"diffstream bench: {c['cpu']}, {c['cores']} cores, python {c['python']}, "
        f"torch {c['versions']['torch']}, diffusers {c['versions']['diffusers']}, "
        f"confluent-kafka {c['versions']['confluent-kafka']}; {c['repeats']} repeats"
    )
    for batch in (1, 8):
        figures = report["efficiency"][f"batch{batch}"]
        images = figures["images_per_round"]
        out.add_row(
            f"bare diffusers, batch {batch} (img/s)",
            _spread_text(figures["bare_images_per_s"]),
            "",
            f"{work}, {images} images/round",
        )
        out.add_row(
            f"pipeline, batch {batch} (img/s)",
            _spread_text(figures["pipeline_images_per_s"]),
            "",
            f"publish -> completed, processor + image sink, {images} requests/round",
        )
        out.add_row(
            f"pipeline / bare, batch {batch}",
            _spread_text(figures["ratio"], 3),
            TARGETS.get(f"ratio_batch{batch}", ""),
            "paired rounds",
        )
    gain = report["batching_gain"]
    out.add_row(
        "batching gain kept (pipeline / bare)",
        f"{report['batching_gain_ratio']:.3f}",
        TARGETS["batching_gain_ratio"],
        f"b8/b1: pipeline x{gain['pipeline']:.2f}, bare x{gain['bare']:.2f}",
    )
    latency = report["added_latency_ms"]
    out.add_row(
        "added latency p50 / p95 / p99 (ms)",
        f"{latency['p50']:.1f} / {latency['p95']:.1f} / {latency['p99']:.1f}",
        "p50 <= 20, p99 <= 50",
        f"{latency['requests']} requests one at a time, {work}; end to end p50 "
        f"{latency['end_to_end_p50']:.1f} ms, model p50 {latency['model_p50']:.1f} ms",
    )
    out.add_row(
        "  where it goes, p50 (ms)",
        " / ".join(f"{ms:.0f}" for ms in latency["stages_p50"].values()),
        "",
        " / ".join(latency["stages_p50"]),
    )
    control = report["control_plane"]
    out.add_row(
        "control plane (request events/s per core)",
        _spread_text(control["events_per_core_s"], 0),
        TARGETS["control_plane_events_per_s"],
        f"Avro encode+produce+consume+decode+validate, {control['events']:,} events, "
        f"process CPU time; wall {_spread_text(control['events_per_wall_s'], 0)}/s",
    )
    out.add_row(
        "control_plane_vs_codec_ratio",
        _spread_text(control["vs_codec_ratio"]),
        TARGETS["control_plane_vs_codec_ratio"],
        "the above over a bare fastavro encode+decode of the same records: "
        f"{_spread_text(control['codec_events_per_core_s'], 0)}/s per core",
    )
    if "replication" in report:
        replication = report["replication"]
        three = _spread_text(replication["three_brokers_rf3_acks_all_events_per_wall_s"], 0)
        out.add_row(
            "replication_cost_ratio",
            f"{replication['replication_cost_ratio']:.2f}",
            "",
            "events/s (wall) with 3 brokers, replication 3, min ISR 2, acks=all over the same "
            f"on one broker: {three}"
            f" vs {_spread_text(replication['one_broker_events_per_wall_s'], 0)}",
        )
    if "fleet" in report:
        for row in fleet_table(report["fleet"]):
            out.add_row(*row)
    null = report["null_model"]
    out.add_row(
        "pipeline ceiling, null model (req/s)",
        _spread_text(null["requests_per_s"], 1),
        "",
        f"{null['requests']} requests at once, 64x64, processor batch "
        f"{null['processor_batch']}, end to end",
    )
    accelerator_rows(out, report)
    return out


def accelerator_rows(out: Table, report: dict[str, Any]) -> None:
    """The simulated accelerator's rows: busy ratio pipelined and not, sim_max_img_s."""
    for key, label in (("accelerator", "pipelined"), ("accelerator_depth1", "not pipelined")):
        sim = report[key]
        out.add_row(
            f"accelerator_busy_ratio{'' if key == 'accelerator' else '_depth1'} "
            f"(sim {sim['sim_images_per_s']:g} img/s, {label})",
            _spread_text(sim["busy_ratio"], 3),
            TARGETS["accelerator_busy_ratio"] if key == "accelerator" else "",
            f"{sim['requests']} requests at once, {sim['side']}x{sim['side']} PNG level "
            f"{sim['png_compress_level']}, processor batch {sim['processor_batch']}, depth "
            f"{sim['pipeline_depth']}, {sim['encode_threads']} encode threads; "
            f"{_spread_text(sim['gap_ms_per_call'], 0)} ms between calls; end to end "
            f"{_spread_text(sim['end_to_end_busy_ratio'], 3)}, "
            f"{_spread_text(sim['pipeline_images_per_s'], 1)} img/s{_stages_text(sim['stages'])}",
        )
    found = report["sim_max"]
    tried = ", ".join(f"{t['images_per_s']:g}: {t['busy_ratio']:.2f}" for t in found["tried"])
    best = found["sim_max_img_s"]
    out.add_row(
        "sim_max_img_s",
        "none" if best is None else f"{best:g}",
        f"busy >= {found['target_busy_ratio']:g}",
        f"busy at each rate tried (img/s: ratio) {tried}; limit at "
        f"{found['first_failing_img_s']}: {STAGE_NAMES.get(found['limit'] or '', 'none found')}"
        f"{_stages_text((found['limiting_round'] or {}).get('stages'))}",
    )


def _stages_text(stages: dict[str, Any] | None) -> str:
    if not stages:
        return ""
    gaps = ", ".join(f"{name} {1000 * s:.0f}" for name, s in stages["gap_s"].items())
    per_batch = [
        f"{label} {stages[key]:.0f}"
        for label, key in (
            ("model", "model_ms_per_batch"),
            ("finishing", "finishing_ms_per_batch"),
            ("commit", "commit_ms_per_batch"),
        )
        if stages[key] is not None
    ]
    return f"; gaps (ms in all): {gaps}; per batch (ms): {', '.join(per_batch)}"


def accelerator_table(report: dict[str, Any]) -> Table:
    """``bench accelerator``'s figures."""
    c = report["conditions"]
    out = figures_table(
        f"diffstream bench accelerator: {c['cpu']}, {c['cores']} cores, "
        f"{c['repeats']} alternated repeats"
    )
    accelerator_rows(out, report)
    return out
