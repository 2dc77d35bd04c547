"""Schema evolution: every historical writer resolves against the newest reader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import avro.compatibility
import avro.schema
import pytest

from schemas.catalog import SCHEMA_DIR, Catalog, SchemaVersion, load_catalog
from schemas.evolution import checksum_problems, resolution_problems

ALL_VERSIONS = list(load_catalog())


def _id(version: SchemaVersion) -> str:
    return f"{version.event}-v{version.version}"


def test_the_catalog_holds_every_version_file_on_disk() -> None:
    on_disk = sorted(p.relative_to(SCHEMA_DIR).as_posix() for p in SCHEMA_DIR.glob("*/v*.avsc"))
    assert sorted(f"{v.event}/v{v.version}.avsc" for v in ALL_VERSIONS) == on_disk


@pytest.mark.parametrize("writer", ALL_VERSIONS, ids=_id)
def test_every_writer_resolves_against_the_newest_reader(writer: SchemaVersion) -> None:
    catalog = load_catalog()
    reader = catalog.latest(writer.event)
    # fastavro: random records of the writer, read back with the reader.
    assert resolution_problems(_only(writer, reader), samples=200) == []
    # avro's static checker: an independent opinion from the reference rules.
    checker = avro.compatibility.ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(
        avro.schema.parse(reader.path.read_text()), avro.schema.parse(writer.path.read_text())
    )
    assert result.compatibility is avro.compatibility.SchemaCompatibilityType.compatible, (
        result.messages
    )


def _only(writer: SchemaVersion, reader: SchemaVersion) -> Catalog:
    return Catalog([writer, reader] if writer is not reader else [reader])


def test_released_versions_are_unchanged() -> None:
    assert checksum_problems() == []


def _catalog_with_v2(tmp_path: Path, change: Any) -> Path:
    folder = tmp_path / "GenerationRequest"
    folder.mkdir()
    shutil.copy(SCHEMA_DIR / "GenerationRequest" / "v1.avsc", folder / "v1.avsc")
    schema = json.loads((folder / "v1.avsc").read_text())
    change(schema)
    (folder / "v2.avsc").write_text(json.dumps(schema, indent=2))
    return tmp_path


def _field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in schema["fields"] if f["name"] == name)


def test_adding_a_field_with_a_default_is_compatible(tmp_path: Path) -> None:
    def add(schema: dict[str, Any]) -> None:
        schema["fields"].append({"name": "strength", "type": ["null", "double"], "default": None})

    assert resolution_problems(load_catalog(_catalog_with_v2(tmp_path, add))) == []


def test_adding_a_field_without_a_default_is_caught(tmp_path: Path) -> None:
    def add(schema: dict[str, Any]) -> None:
        schema["fields"].append({"name": "strength", "type": "double"})

    (problem,) = resolution_problems(load_catalog(_catalog_with_v2(tmp_path, add)))
    assert problem.startswith("GenerationRequest v1 -> v2")


def test_removing_an_enum_symbol_without_a_default_is_caught(tmp_path: Path) -> None:
    def drop(schema: dict[str, Any]) -> None:
        enum = _field(schema, "output_format")["type"]
        enum["symbols"].remove("webp")
        del enum["default"]

    problems = resolution_problems(load_catalog(_catalog_with_v2(tmp_path, drop)), samples=300)
    assert len(problems) == 1


def test_editing_a_released_file_is_caught(tmp_path: Path) -> None:
    shutil.copytree(SCHEMA_DIR, tmp_path / "avro")
    path = tmp_path / "avro" / "GenerationCancel" / "v1.avsc"
    path.write_text(path.read_text().replace("Asks that", "Requests that"))
    (problem,) = checksum_problems(tmp_path / "avro")
    assert "edited after release" in problem


def test_an_unlisted_new_version_is_reported_with_its_line(tmp_path: Path) -> None:
    shutil.copytree(SCHEMA_DIR, tmp_path / "avro")
    shutil.copy(
        tmp_path / "avro" / "GenerationCancel" / "v1.avsc",
        tmp_path / "avro" / "GenerationCancel" / "v2.avsc",
    )
    (problem,) = checksum_problems(tmp_path / "avro")
    assert "GenerationCancel/v2.avsc: not in SHA256SUMS; add: " in problem
