"""`diffstream bench encoding` on small pictures: every variant measured, sizes sane."""

from __future__ import annotations

import json

import pytest

from infra.bench.encoding import PNG_LEVELS, encoding_costs, encoding_table
from processors.engine.encoding import CONTENT_TYPES


def test_every_format_and_png_level_is_measured() -> None:
    report = encoding_costs(side=128, pictures=2, repeats=1, photos=False)
    rows = {row["variant"]: row for row in json.loads(json.dumps(report))["encodings"]}
    assert [f"png level {level}" for level in PNG_LEVELS] == list(rows)[: len(PNG_LEVELS)]
    assert {row["format"] for row in rows.values()} == set(CONTENT_TYPES)
    for row in rows.values():
        assert 0 < row["cpu_ms_min"] <= row["cpu_ms"] <= row["cpu_ms_max"]
        assert row["kb"] > 0
    # Level 0 stores the pixels as they are (128 * 128 * 3 bytes and a little more);
    # a compressed level must be smaller.
    assert rows["png level 0"]["kb"] >= 48
    assert rows["png level 1"]["kb"] < rows["png level 0"]["kb"]
    assert rows["png level 9"]["kb"] <= rows["png level 1"]["kb"]
    assert encoding_table(report).row_count == len(rows) == len(PNG_LEVELS) + 2


def test_photographs_are_measured_beside_the_sim_pictures() -> None:
    pytest.importorskip("sklearn", reason="the photographs are scikit-learn's samples")
    report = encoding_costs(side=64, pictures=1, repeats=1)
    assert report["conditions"]["photographs"] == 2
    for row in report["encodings"]:
        assert row["cpu_vs_photo"] == pytest.approx(row["cpu_ms"] / row["photo_cpu_ms"])
        assert row["kb_vs_photo"] == pytest.approx(row["kb"] / row["photo_kb"])
    assert encoding_table(report).columns[-1].header == "sim / photo: CPU, KB"
    without = encoding_costs(side=64, pictures=1, repeats=1, photos=False)
    assert without["conditions"]["photographs"] == 0
    assert "cpu_vs_photo" not in without["encodings"][0]
