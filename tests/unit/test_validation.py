"""Request validation: each bad input names its field, value and limit; nothing else escapes."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diffstream.request_limits import RequestLimits
from schemas.builders import invalid_request_failed, lineage, new_request
from schemas.codec import Codec
from schemas.events import EventName
from schemas.examples import example
from schemas.exceptions import FieldError, ValidationError
from schemas.validation import check_request, request_fields, validate_request

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
LIMITS = RequestLimits()
MISSING = object()


def _valid(**overrides: Any) -> dict[str, Any]:
    record = new_request("a red bicycle", submitted_at=NOW - timedelta(seconds=1))
    for key, value in overrides.items():
        if value is MISSING:
            del record[key]
        else:
            record[key] = value
    return record


def test_a_complete_request_is_valid() -> None:
    record = example(EventName.REQUEST)
    record["deadline"] = datetime.now(UTC) + timedelta(hours=1)
    assert validate_request(record) == []
    check_request(record)


def test_defaults_are_valid_and_optional_fields_may_be_absent() -> None:
    assert validate_request(_valid(), now=NOW) == []
    minimal = {
        key: value
        for key, value in _valid().items()
        if key in {"request_id", "submitted_at", "model", "prompt", "width", "height"}
        or key in {"steps", "guidance_scale", "num_images"}
    }
    assert validate_request(minimal, now=NOW) == []


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("prompt missing", {"prompt": MISSING}, "prompt"),
    ("prompt empty", {"prompt": ""}, "prompt"),
    ("prompt whitespace", {"prompt": " \n\t "}, "prompt"),
    ("prompt too long", {"prompt": "x" * (LIMITS.max_prompt_chars + 1)}, "prompt"),
    ("prompt not text", {"prompt": 42}, "prompt"),
    ("prompt lone surrogate", {"prompt": "cat \ud800"}, "prompt"),
    ("negative prompt too long", {"negative_prompt": "n" * 2001}, "negative_prompt"),
    ("width not multiple of 8", {"width": 513}, "width"),
    ("height not multiple of 8", {"height": 500}, "height"),
    ("width too small", {"width": 8}, "width"),
    ("height too large", {"height": 4096}, "height"),
    ("width a bool", {"width": True}, "width"),
    ("width a float", {"width": 512.0}, "width"),
    ("too many pixels", {"width": 2048, "height": 2048}, "width*height"),
    ("steps zero", {"steps": 0}, "steps"),
    ("steps over cap", {"steps": LIMITS.max_steps + 1}, "steps"),
    ("num_images zero", {"num_images": 0}, "num_images"),
    ("num_images over cap", {"num_images": 9}, "num_images"),
    ("guidance NaN", {"guidance_scale": math.nan}, "guidance_scale"),
    ("guidance +inf", {"guidance_scale": math.inf}, "guidance_scale"),
    ("guidance -inf", {"guidance_scale": -math.inf}, "guidance_scale"),
    ("guidance negative", {"guidance_scale": -1.0}, "guidance_scale"),
    ("guidance too high", {"guidance_scale": 31}, "guidance_scale"),
    ("guidance a string", {"guidance_scale": "7.5"}, "guidance_scale"),
    ("seed negative", {"seed": -1}, "seed"),
    ("seed beyond long", {"seed": 2**63}, "seed"),
    ("unknown scheduler", {"scheduler": "karras_magic"}, "scheduler"),
    ("output format gif", {"output_format": "gif"}, "output_format"),
    ("lane unknown", {"lane": "express"}, "lane"),
    ("priority too high", {"priority": 10}, "priority"),
    ("deadline in the past", {"deadline": NOW - timedelta(seconds=1)}, "deadline"),
    ("deadline now", {"deadline": NOW}, "deadline"),
    ("deadline not a time", {"deadline": "tomorrow"}, "deadline"),
    ("callback ftp", {"callback": {"url": "ftp://h/x", "events": ["completed"]}}, "callback.url"),
    ("callback no host", {"callback": {"url": "https:///x", "events": ["failed"]}}, "callback.url"),
    (
        "callback too long",
        {"callback": {"url": "https://h/" + "a" * 2048, "events": ["completed"]}},
        "callback.url",
    ),
    (
        "callback credentials",
        {"callback": {"url": "https://u:p@h/x", "events": ["completed"]}},
        "callback.url",
    ),
    (
        "callback bad port",
        {"callback": {"url": "https://h:99999/", "events": ["status"]}},
        "callback.url",
    ),
    ("callback no events", {"callback": {"url": "https://h/x", "events": []}}, "callback.events"),
    (
        "callback bad event",
        {"callback": {"url": "https://h/x", "events": ["sms"]}},
        "callback.events",
    ),
    ("callback not a record", {"callback": "https://h/x"}, "callback"),
    ("request_id not a uuid", {"request_id": "req-1"}, "request_id"),
    ("request_id missing", {"request_id": MISSING}, "request_id"),
    ("submitted_at a string", {"submitted_at": "2025-01-01"}, "submitted_at"),
    ("model empty", {"model": ""}, "model"),
    ("model absolute path", {"model": "/etc/passwd"}, "model"),
    ("model parent dir", {"model": "models/../secrets"}, "model"),
    ("model too long", {"model": "m" * 257}, "model"),
    ("revision with spaces", {"revision": "main branch"}, "revision"),
    ("tenant blank", {"tenant": "  "}, "tenant"),
    ("tenant too long", {"tenant": "t" * 129}, "tenant"),
    ("too many labels", {"labels": {f"k{i}": "v" for i in range(33)}}, "labels"),
    ("label key too long", {"labels": {"k" * 65: "v"}}, "labels." + "k" * 65),
    ("label value too long", {"labels": {"team": "v" * 257}}, "labels.team"),
    ("label value not text", {"labels": {"team": 7}}, "labels.team"),
    ("labels not a map", {"labels": ["a"]}, "labels"),
    ("traceparent malformed", {"traceparent": "00-abc-def-01"}, "traceparent"),
    ("traceparent zero trace id", {"traceparent": f"00-{'0' * 32}-{'1' * 16}-01"}, "traceparent"),
    ("batch_id empty", {"batch_id": ""}, "batch_id"),
    (
        "lineage partition negative",
        {"lineage": lineage(str(uuid.uuid4()), topic="t", partition=-1, offset=0)},
        "lineage.partition",
    ),
    (
        "lineage bad id",
        {"lineage": lineage("x", topic="t", partition=0, offset=0)},
        "lineage.original_request_id",
    ),
    ("unknown field (typo)", {"negative_promt": "blurry"}, "negative_promt"),
]


@pytest.mark.parametrize(
    ("overrides", "field"), [(o, f) for _, o, f in BAD], ids=[n for n, _, _ in BAD]
)
def test_bad_input_names_its_field_value_and_limit(overrides: dict[str, Any], field: str) -> None:
    record = _valid(**overrides)
    errors = validate_request(record, LIMITS, now=NOW)
    assert [error.field for error in errors] == [field], errors
    error = errors[0]
    assert error.message.startswith(f"{field}=")
    assert f"(limit: {error.limit})" in error.message
    with pytest.raises(ValidationError) as caught:
        check_request(record, LIMITS, now=NOW)
    assert caught.value.fields == [field]


def test_the_table_is_big_enough() -> None:
    assert len(BAD) >= 25


def test_every_broken_rule_is_reported_not_just_the_first() -> None:
    record = _valid(width=513, steps=0, prompt="", scheduler="nope")
    fields = {error.field for error in validate_request(record, now=NOW)}
    assert fields == {"width", "steps", "prompt", "scheduler"}


def test_limits_come_from_settings() -> None:
    tight = RequestLimits(max_steps=4, schedulers=frozenset({"lcm"}))
    assert [e.field for e in validate_request(_valid(steps=5), tight, now=NOW)] == ["steps"]
    assert validate_request(_valid(steps=4, scheduler="lcm"), tight, now=NOW) == []


def test_long_values_are_cut_in_messages_but_kept_in_the_error() -> None:
    prompt = "x" * 10_000
    (error,) = validate_request(_valid(prompt=prompt), now=NOW)
    assert len(error.message) < 300
    assert error.value == prompt


@pytest.mark.parametrize("record", [None, 42, "text", [], b"bytes", {1: 2}, {"prompt": None}])
def test_anything_at_all_gives_field_errors(record: Any) -> None:
    errors = validate_request(record, now=NOW)
    assert errors
    assert all(isinstance(error, FieldError) for error in errors)


_ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(request_fields())), _ANY, max_size=8))
def test_random_field_values_never_raise(changes: dict[str, Any]) -> None:
    errors = validate_request(_valid(**changes), now=NOW)
    assert all(isinstance(error, FieldError) for error in errors)
    assert not any(_internal_failure(error) for error in errors), errors


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=10) | st.integers(), _ANY, max_size=6))
def test_random_dicts_never_raise(record: dict[Any, Any]) -> None:
    errors = validate_request(record, now=NOW)
    assert all(isinstance(error, FieldError) for error in errors)
    assert not any(_internal_failure(error) for error in errors), errors


def _internal_failure(error: FieldError) -> bool:
    """The error validate_request reports when a rule itself raised (a random key may well
    be called "request": that is an unknown field, not an internal failure)."""
    return (error.field, error.limit) == ("request", "a valid request")


def test_new_request_fills_defaults_and_rejects_unknown_overrides() -> None:
    record = new_request("a cat", steps=4, seed=7)
    assert isinstance(record["request_id"], uuid.UUID)
    assert record["submitted_at"].microsecond % 1000 == 0
    assert (record["steps"], record["seed"], record["model"]) == (4, 7, "tiny-sd")
    assert set(record) == request_fields()
    with pytest.raises(ValidationError) as caught:
        new_request("a cat", stepz=4)
    assert caught.value.fields == ["stepz"]


def test_a_decoded_invalid_request_becomes_an_encodable_failed_event() -> None:
    codec = Codec.without_registry()
    request = _valid(width=516, steps=500, scheduler="nope")
    decoded = codec.decode(codec.encode(EventName.REQUEST, request)).value
    errors = validate_request(decoded, now=NOW)
    source = {"topic": "diffusion.requests", "partition": 0, "offset": 9}
    failed = invalid_request_failed(decoded, errors, source=source)
    assert failed["error_code"] == "invalid_request"
    assert [item["field"] for item in failed["field_errors"]] == ["width", "steps", "scheduler"]
    again = codec.decode(codec.encode(EventName.FAILED, failed), expected=EventName.FAILED)
    assert again.value["context"]["submitted_at"] == request["submitted_at"]
