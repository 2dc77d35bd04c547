"""The .avsc files: layout, naming, fingerprints, and the Python mirrors of their enums."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from fastavro.schema import to_parsing_canonical_form

from schemas.catalog import SCHEMA_DIR, load_catalog
from schemas.events import (
    NAMESPACE,
    CallbackEvent,
    ErrorCode,
    EventName,
    Lane,
    OutputFormat,
    RequestState,
)
from schemas.exceptions import SchemaLoadError

CATALOG = load_catalog()


def _named_types(schema: Any, found: dict[str, Any], namespace: str) -> None:
    """Every named type definition in a schema, by full name."""
    if isinstance(schema, list):
        for branch in schema:
            _named_types(branch, found, namespace)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") in ("record", "enum", "fixed"):
        namespace = schema.get("namespace", namespace)
        found.setdefault(f"{namespace}.{schema['name']}", []).append(schema)
    for field in schema.get("fields", []):
        _named_types(field["type"], found, namespace)
    for key in ("items", "values"):
        if key in schema:
            _named_types(schema[key], found, namespace)


def test_every_event_has_a_schema_in_the_namespace() -> None:
    assert set(CATALOG.events) == {event.value for event in EventName}
    for event in EventName:
        assert CATALOG.latest(event).fullname == event.fullname
        assert event.fullname.startswith(NAMESPACE + ".")


def test_fingerprints_are_unique_across_events() -> None:
    owners: dict[bytes, str] = {}
    for version in CATALOG:
        assert owners.setdefault(version.fingerprint, version.event) == version.event
        assert CATALOG.by_fingerprint(version.fingerprint) is not None


@pytest.mark.parametrize(
    ("mirror", "event", "field"),
    [
        (OutputFormat, EventName.REQUEST, "output_format"),
        (Lane, EventName.REQUEST, "lane"),
        (ErrorCode, EventName.FAILED, "error_code"),
        (RequestState, EventName.STATUS, "state"),
    ],
)
def test_python_enums_mirror_the_newest_schema(
    mirror: type[StrEnum], event: EventName, field: str
) -> None:
    fields = {f["name"]: f for f in CATALOG.latest(event).raw["fields"]}
    assert [m.value for m in mirror] == fields[field]["type"]["symbols"]


def test_callback_event_enum_mirrors_the_schema() -> None:
    found: dict[str, Any] = {}
    _named_types(CATALOG.latest(EventName.REQUEST).raw, found, NAMESPACE)
    (definition,) = found[f"{NAMESPACE}.CallbackEvent"]
    assert [m.value for m in CallbackEvent] == definition["symbols"]


def test_shared_named_types_are_defined_identically_in_every_newest_schema() -> None:
    """A type such as SourceCoordinates is copied into each file; the copies must agree."""
    found: dict[str, Any] = {}
    for event in EventName:
        _named_types(CATALOG.latest(event).raw, found, NAMESPACE)
    for name, definitions in found.items():
        forms = {to_parsing_canonical_form(d) for d in definitions}
        assert len(forms) == 1, f"{name} differs between schemas"


def test_ids_and_times_use_logical_types() -> None:
    for event in EventName:
        fields = {f["name"]: f["type"] for f in CATALOG.latest(event).raw["fields"]}
        if event not in (EventName.TENANT_KEY, EventName.MODEL_ALIAS):  # not about a request
            assert fields["request_id"] == {"type": "string", "logicalType": "uuid"}
        times = [t for n, t in fields.items() if n.endswith("_at")]
        assert times
        assert all(t == {"type": "long", "logicalType": "timestamp-millis"} for t in times)


def _write(folder: Path, name: str, schema: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(schema))


def _record(name: str) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "t", "fields": []}


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"A/v1.avsc": _record("B")}, "named 'A'"),
        ({"A/version1.avsc": _record("A")}, "v<N>.avsc"),
        ({"A/v1.avsc": _record("A"), "A/v3.avsc": _record("A")}, "without gaps"),
        (
            {"A/v1.avsc": dict(_record("A"), fields=[{"name": "x", "type": "nosuchtype"}])},
            "not a valid Avro schema",
        ),
        ({"A/v1.avsc": _record("A"), "A/v2.avsc": dict(_record("A"), namespace="u")}, "full name"),
    ],
)
def test_misplaced_or_broken_files_are_refused(
    tmp_path: Path, files: dict[str, Any], message: str
) -> None:
    for relative, schema in files.items():
        folder, name = relative.split("/")
        _write(tmp_path / folder, name, schema)
    with pytest.raises(SchemaLoadError, match=message):
        load_catalog(tmp_path)


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemaLoadError):
        load_catalog(tmp_path / "nowhere")


def test_schemas_are_packaged_next_to_the_code() -> None:
    assert SCHEMA_DIR.is_dir()
    assert (SCHEMA_DIR / "SHA256SUMS").is_file()
