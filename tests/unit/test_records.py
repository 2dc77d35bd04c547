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


def _built() -> dict[EventName, dict[str, Any]]:
    """One record per event, each from its builder, as a role would build it."""
    request = builders.new_request("a red fox", seed=3, tenant="acme", batch_id="b-1")
    source = builders.source_coordinates("diffusion.requests", 2, 40)
    timings = builders.timings(queued_s=0.01, inference_s=0.5)
    image = builders.generated_image(
        index=0, data=b"png", content_type="image/png", width=64, height=64, seed=3
    )
    stored = builders.stored_image(image, uri="s3://b/k.png", sha256="ab" * 32, size_bytes=3)
    failed = builders.new_failed(
        request["request_id"],
        ErrorCode.INVALID_REQUEST,
        "width=7 is not a multiple of 8",
        field_errors=[FieldError("width", 7, "a multiple of 8", "width=7 is not a multiple of 8")],
        source=source,
        context=builders.request_context(request),
    )
    return {
        EventName.REQUEST: request,
        EventName.RESULT: builders.new_result(
            request,
            attempt=1,
            model="tiny-sd",
            revision=None,
            images=[image],
            timings=timings,
            source=source,
        ),
        EventName.COMPLETED: builders.new_completed(
            request,
            attempt=1,
            model="tiny-sd",
            revision="main",
            images=[stored],
            timings=dict(timings, storage_s=0.02, end_to_end_s=0.6),
            source=source,
        ),
        EventName.FAILED: failed,
        EventName.STATUS: builders.new_status(
            request, RequestState.FAILED, attempt=1, source=source, failed=failed
        ),
        EventName.CANCEL: builders.new_cancel(
            request["request_id"], reason="closed", tenant="acme"
        ),
        EventName.PROGRESS: builders.new_progress(
            str(request["request_id"]), step=3, steps=10, attempt=1, model="tiny-sd"
        ),
    }


def test_every_builder_writes_a_record_its_schema_accepts() -> None:
    codec = Codec.without_registry()
    built = _built()
    assert set(built) == set(EventName)
    for event, record in built.items():
        decoded = codec.decode(codec.encode(event, record), expected=event).value
        assert set(decoded) == set(record), event
        assert str(decoded["request_id"]) == str(record["request_id"])


def test_status_carries_the_failure_and_the_request_fields() -> None:
    status = _built()[EventName.STATUS]
    assert status["state"] == "failed"
    assert status["error_code"] == "invalid_request"
    assert status["message"] == "width=7 is not a multiple of 8"
    assert (status["tenant"], status["batch_id"], status["model"]) == ("acme", "b-1", "tiny-sd")
    # A decoded request with wrong-typed fields (an invalid request) still gets a status.
    odd = builders.new_status({"request_id": uuid.uuid4(), "model": 7}, RequestState.QUEUED)
    assert odd["model"] is None
    assert odd["source"] is None


def test_the_examples_are_built_by_the_builders() -> None:
    codec = Codec.without_registry()
    for event in EventName:
        record = example(event)
        assert codec.decode(codec.encode(event, record), expected=event).value.keys() == (
            record.keys()
        )
