"""Backfill input files, without services: ids, formats, bad lines."""

from __future__ import annotations

import json
from pathlib import Path

from producers.operations.backfill import BackfillReport, default_batch_id
from producers.operations.backfill_file import read_entries, request_id_for

SMALL = {"width": 64, "height": 64, "steps": 2}


def _jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_request_ids_are_deterministic_per_batch_line_and_content(tmp_path: Path) -> None:
    file = _jsonl(
        tmp_path / "a.jsonl", [json.dumps({"prompt": f"p{i}", **SMALL}) for i in range(5)]
    )
    first, _ = read_entries(file, "batch-1")
    again, _ = read_entries(file, "batch-1")
    other, _ = read_entries(file, "batch-2")
    assert [e.request_id for e in first] == [e.request_id for e in again]
    assert not {e.request_id for e in first} & {e.request_id for e in other}
    assert len({e.request_id for e in first}) == 5
    assert request_id_for("b", 1, "x") != request_id_for("b", 2, "x")
    assert all(e.record["batch_id"] == "batch-1" and e.record["lane"] == "batch" for e in first)


def test_bad_lines_are_reported_by_number_and_never_block_the_rest(tmp_path: Path) -> None:
    file = _jsonl(
        tmp_path / "mixed.jsonl",
        [
            json.dumps({"prompt": "fine", **SMALL}),
            "{not json",
            json.dumps({"prompt": "too wide", **SMALL, "width": 65}),
            json.dumps({"width": 64}),
            json.dumps({"prompt": "sneaky", "request_id": "x"}),
            json.dumps({"prompt": "typo", "stepz": 3}),
            "",
            json.dumps("just a prompt"),
        ],
    )
    entries, errors = read_entries(file, "b")
    assert [e.line for e in entries] == [1, 8]
    assert entries[1].record["prompt"] == "just a prompt"
    by_line = {e.line: e.message for e in errors}
    assert set(by_line) == {2, 3, 4, 5, 6}
    assert "not JSON" in by_line[2]
    assert "width=65" in by_line[3]
    assert "multiple of 8" in by_line[3]
    assert "prompt is missing" in by_line[4]
    assert "request_id" in by_line[5]
    assert "stepz" in by_line[6]


def test_csv_cells_are_typed_and_empty_cells_keep_defaults(tmp_path: Path) -> None:
    file = tmp_path / "b.csv"
    file.write_text(
        "prompt,width,height,steps,seed,guidance_scale,labels,callback\n"
        'a fox,64,64,2,7,4.5,"{""k"": ""v""}",https://example.com/hook\n'
        "a bear,64,64,2,,,,\n"
        "a cat,sixty,64,2,,,,\n",
        encoding="utf-8",
    )
    entries, errors = read_entries(file, "b")
    assert [e.line for e in entries] == [2, 3]
    fox = entries[0].record
    assert (fox["width"], fox["seed"], fox["guidance_scale"]) == (64, 7, 4.5)
    assert fox["labels"] == {"k": "v"}
    assert fox["callback"]["url"] == "https://example.com/hook"
    assert entries[1].record["seed"] is None
    assert errors[0].line == 4
    assert "width" in errors[0].message


def test_default_batch_id_depends_on_the_content(tmp_path: Path) -> None:
    file = _jsonl(tmp_path / "x.jsonl", ['"one"'])
    first = default_batch_id(file)
    assert first == default_batch_id(file)
    assert first.startswith("x-")
    _jsonl(file, ['"two"'])
    assert default_batch_id(file) != first


def test_manifest_rows_cover_every_line_in_order(tmp_path: Path) -> None:
    file = _jsonl(tmp_path / "m.jsonl", ['"a"', "{", '"c"'])
    entries, errors = read_entries(file, "b")
    rows = BackfillReport("b", entries, errors).manifest_rows()
    assert [(r["line"], r["status"]) for r in rows] == [
        (1, "pending"),
        (2, "invalid"),
        (3, "pending"),
    ]
