"""The typed records in ``schemas.records`` against the newest ``.avsc`` files, field by field,
and every builder's output through the real codec."""

from __future__ import annotations

import typing
import uuid
from datetime import datetime
from typing import Any, is_typeddict

import pytest

from schemas import builders, records
from schemas.catalog import load_catalog
from schemas.codec import Codec
from schemas.events import ErrorCode, EventName, RequestState
from schemas.examples import example
from schemas.exceptions import FieldError

CATALOG = load_catalog()
PRIMITIVES: dict[str, Any] = {
    "string": str,
    "int": int,
    "long": int,
    "double": float,
    "float": float,
    "boolean": bool,
    "bytes": bytes,
}
TYPED = {
    name: value
    for name, value in vars(records).items()
    if is_typeddict(value) and value.__module__ == records.__name__
}


def _expected(avro: Any, checked: set[str]) -> Any:
    """The Python annotation a field of Avro type ``avro`` must have in ``schemas.records``."""
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        assert len(branches) == 1, f"only [null, X] unions are mirrored, not {avro}"
        inner = _expected(branches[0], checked)
        return inner | None if "null" in avro else inner
    if isinstance(avro, str):
        if avro in PRIMITIVES:
            return PRIMITIVES[avro]
        return _record(avro.rsplit(".", 1)[-1], None, checked)  # a named type defined earlier
    logical, kind = avro.get("logicalType"), avro["type"]
    if logical == "uuid":
        return records.RequestId
    if logical == "timestamp-millis":
        return datetime
    if kind == "enum":
        return str
    if kind == "array":
        return list[_expected(avro["items"], checked)]  # type: ignore[misc]
    if kind == "map":
        return dict[str, _expected(avro["values"], checked)]  # type: ignore[misc]
    if kind == "record":
        return _record(avro["name"], avro, checked)
    return _expected(kind, checked)


def _record(name: str, avro: dict[str, Any] | None, checked: set[str]) -> Any:
    """Check the TypedDict called ``name`` against the Avro record ``avro`` (when given)."""
    assert name in TYPED, f"schemas.records has no TypedDict for the Avro record {name}"
    typed = TYPED[name]
    if avro is not None:
        hints = typing.get_type_hints(typed)
        fields = [f["name"] for f in avro["fields"]]
        assert list(hints) == fields, f"{name}: fields differ from the .avsc (order included)"
        # Builders always set every field, so every key is required, nullable or not.
        assert typed.__required_keys__ == frozenset(fields), f"{name}: every key is required"
        for field in avro["fields"]:
            want = _expected(field["type"], checked)
            assert hints[field["name"]] == want, (
                f"{name}.{field['name']}: typed {hints[field['name']]}, the .avsc says {want}"
            )
        checked.add(name)
    return typed


@pytest.mark.parametrize("event", list(EventName), ids=str)
def test_each_event_type_matches_its_newest_schema(event: EventName) -> None:
    checked: set[str] = set()
    _record(event.value, CATALOG.latest(event).raw, checked)
    assert event.value in checked


def test_every_typed_record_is_a_record_of_some_schema() -> None:
    checked: set[str] = set()
    for event in EventName:
        _record(event.value, CATALOG.latest(event).raw, checked)
    assert set(TYPED) == checked, f"types no schema has: {set(TYPED) - checked}"


def test_the_check_sees_a_drifted_field() -> None:
    raw = CATALOG.latest(EventName.PROGRESS).raw
    drifted = dict(raw, fields=[*raw["fields"][:-1], {"name": "model", "type": "string"}])
    with pytest.raises(AssertionError, match=r"GenerationProgress\.model"):
        _record("GenerationProgress", drifted, set())
    renamed = dict(raw, fields=[*raw["fields"][:-1], {"name": "model_id", "type": "string"}])
    with pytest.raises(AssertionError, match="fields differ"):
        _record("GenerationProgress", renamed, set())


def test_every_builder_writes_a_record_its_schema_accepts() -> None:
    # schemas.examples builds one record per event through the builders, every field set.
    codec = Codec.without_registry()
    for event in EventName:
        record = example(event)
        decoded = codec.decode(codec.encode(event, record), expected=event).value
        assert list(decoded) == list(record), event
        keys = {EventName.TENANT_KEY: "key_hash", EventName.MODEL_ALIAS: "name"}
        key = keys.get(event, "request_id")
        assert str(decoded[key]) == str(record[key])


def test_completed_is_derived_from_its_result() -> None:
    result = example(EventName.RESULT)
    completed = builders.new_completed(
        result, example(EventName.COMPLETED)["images"], storage_s=0.02
    )
    assert completed["request_id"] == result["request_id"]
    assert (completed["attempt"], completed["model"]) == (result["attempt"], result["model"])
    assert completed["source"] == result["source"]
    assert completed["context"] == builders.request_context(result["request"])
    assert completed["timings"]["queued_s"] == result["timings"]["queued_s"]
    assert completed["timings"]["storage_s"] == 0.02
    assert completed["timings"]["end_to_end_s"] >= 0.0


def test_status_carries_the_failure_and_the_request_fields() -> None:
    request = builders.new_request("a red fox", tenant="acme", batch_id="b-1")
    failed = builders.new_failed(
        request["request_id"],
        ErrorCode.INVALID_REQUEST,
        "width=7 is not a multiple of 8",
        field_errors=[FieldError("width", 7, "a multiple of 8", "width=7 is not a multiple of 8")],
    )
    status = builders.new_status(request, RequestState.FAILED, failed=failed)
    assert status["state"] == "failed"
    assert status["error_code"] == "invalid_request"
    assert status["message"] == "width=7 is not a multiple of 8"
    assert (status["tenant"], status["batch_id"], status["model"]) == ("acme", "b-1", "tiny-sd")
    assert failed["field_errors"] == [
        {"field": "width", "message": "width=7 is not a multiple of 8"}
    ]
    # A decoded request with wrong-typed fields (an invalid request) still gets a status.
    odd = builders.new_status({"request_id": uuid.uuid4(), "model": 7}, RequestState.QUEUED)
    assert odd["model"] is None
    assert odd["source"] is None


def test_a_nested_record_missing_a_field_fails_at_the_builder() -> None:
    with pytest.raises(KeyError, match="offset"):
        builders.new_status(
            {"request_id": uuid.uuid4()},
            RequestState.QUEUED,
            source={"topic": "diffusion.requests", "partition": 0},
        )
