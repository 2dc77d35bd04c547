"""The codec: single-object and Confluent framing, typed errors, content types."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema

from diffstream.settings import Settings
from schemas.catalog import SCHEMA_DIR, load_catalog
from schemas.codec import CONTENT_TYPE_HEADER, Codec, WireFormat, content_type
from schemas.events import EventName
from schemas.examples import example
from schemas.exceptions import DecodeError, EncodeError, UnknownSchemaError
from schemas.registry import registry_client


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec.without_registry()


@pytest.fixture
def registry_codec() -> Codec:
    return Codec(Settings(schema_registry_url="mock://diffstream-tests"))


@pytest.mark.parametrize("event", list(EventName))
def test_every_event_round_trips_in_single_object_encoding(codec: Codec, event: EventName) -> None:
    record = example(event)
    data = codec.encode(event, record)
    latest = load_catalog().latest(event)
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == latest.fingerprint
    decoded = codec.decode(data, expected=event)
    assert decoded.event is event
    assert decoded.value == record
    assert decoded.wire_format is WireFormat.SINGLE_OBJECT
    assert decoded.writer_version == latest.version


@pytest.mark.parametrize("event", list(EventName))
def test_every_event_round_trips_through_the_schema_registry(
    registry_codec: Codec, event: EventName
) -> None:
    record = example(event)
    data = registry_codec.encode(event, record, topic="diffusion.any")
    assert data[0] == 0
    decoded = registry_codec.decode(data, expected=event)
    assert decoded.value == record
    assert decoded.wire_format is WireFormat.CONFLUENT
    assert decoded.writer_version == load_catalog().latest(event).version


def test_registry_subjects_are_record_names_so_both_request_lanes_share_one() -> None:
    client = registry_client("mock://subjects")
    codec = Codec(registry_client=client)
    first = codec.encode(EventName.REQUEST, example(EventName.REQUEST), topic="diffusion.requests")
    second = codec.encode(
        EventName.REQUEST, example(EventName.REQUEST), topic="diffusion.requests.batch"
    )
    assert first[1:5] == second[1:5]
    assert client.get_subjects() == ["io.diffstream.v1.GenerationRequest"]


def test_a_second_codec_on_the_same_registry_decodes_and_still_reads_single_object(
    codec: Codec,
) -> None:
    client = registry_client("mock://shared")
    writer, reader = Codec(registry_client=client), Codec(registry_client=client)
    record = example(EventName.COMPLETED)
    assert reader.decode(writer.encode(EventName.COMPLETED, record)).value == record
    assert reader.decode(codec.encode(EventName.COMPLETED, record)).value == record


def test_confluent_bytes_without_a_registry_are_a_decode_error(
    codec: Codec, registry_codec: Codec
) -> None:
    data = registry_codec.encode(EventName.REQUEST, example(EventName.REQUEST))
    with pytest.raises(DecodeError, match="SCHEMA_REGISTRY_URL"):
        codec.decode(data)


def test_unknown_registry_schema_id_is_unknown_schema(registry_codec: Codec) -> None:
    data = b"\x00" + struct.pack(">I", 987654) + b"\x02"
    with pytest.raises(UnknownSchemaError, match="987654"):
        registry_codec.decode(data)


def test_a_registered_schema_that_is_not_a_diffstream_event_is_unknown_schema() -> None:
    client = registry_client("mock://foreign")
    foreign = json.dumps({"type": "record", "name": "Other", "fields": []})
    schema_id = client.register_schema("Other", Schema(foreign, "AVRO"))
    with pytest.raises(UnknownSchemaError, match="not a diffstream event"):
        Codec(registry_client=client).decode(b"\x00" + struct.pack(">I", schema_id) + b"\x00")


def test_unknown_fingerprint_is_unknown_schema(codec: Codec) -> None:
    with pytest.raises(UnknownSchemaError) as caught:
        codec.decode(b"\xc3\x01" + b"\x00" * 8 + b"\x00", topic="t", partition=1, offset=2)
    assert isinstance(caught.value, DecodeError)
    assert "0000000000000000" in str(caught.value)


def test_decode_error_prints_topic_partition_offset(codec: Codec) -> None:
    with pytest.raises(DecodeError) as caught:
        codec.decode(b"garbage", topic="diffusion.requests", partition=3, offset=42)
    error = caught.value
    assert (error.topic, error.partition, error.offset) == ("diffusion.requests", 3, 42)
    assert str(error).startswith("diffusion.requests[3]@42: ")


def test_decode_error_without_coordinates_prints_just_the_reason(codec: Codec) -> None:
    with pytest.raises(DecodeError) as caught:
        codec.decode(b"")
    assert caught.value.coordinates is None
    assert str(caught.value) == "unknown framing: first bytes (empty)"


def test_trailing_bytes_are_rejected(codec: Codec) -> None:
    data = codec.encode(EventName.CANCEL, example(EventName.CANCEL))
    with pytest.raises(DecodeError, match="trailing"):
        codec.decode(data + b"\x00")


def test_expected_event_type_is_enforced(codec: Codec) -> None:
    data = codec.encode(EventName.CANCEL, example(EventName.CANCEL))
    with pytest.raises(DecodeError, match="expected a GenerationRequest event"):
        codec.decode(data, expected=EventName.REQUEST, topic="diffusion.requests")


@pytest.mark.parametrize("data", [None, "text", 42])
def test_non_bytes_are_a_decode_error(codec: Codec, data: Any) -> None:
    with pytest.raises(DecodeError, match="expected bytes"):
        codec.decode(data)


def _without(record: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != key}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: dict(r, width="wide"), "width"),
        (lambda r: dict(r, request_id=12), "request_id"),
        (lambda r: dict(r, negative_promt="typo"), "negative_promt"),
        (lambda r: _without(r, "prompt"), "prompt"),
        (lambda r: dict(r, callback={"url": 1, "events": []}), "callback.url"),
        (lambda r: dict(r, callback={"url": "https://x", "events": ["sms"]}), "callback.events"),
        (lambda r: dict(r, output_format="gif"), "output_format"),
        (lambda r: dict(r, labels={"a": 1}), "labels"),
        (lambda r: dict(r, seed=2**64), "seed"),
    ],
)
@pytest.mark.parametrize("registry", [False, True], ids=["single-object", "confluent"])
def test_encode_error_names_the_field(change: Any, field: str, registry: bool) -> None:
    url = "mock://encode-errors" if registry else None
    codec = Codec(Settings(schema_registry_url=url))
    with pytest.raises(EncodeError) as caught:
        codec.encode(EventName.REQUEST, change(example(EventName.REQUEST)))
    assert caught.value.field == field
    assert f"GenerationRequest.{field}" in str(caught.value)


def test_encoding_an_unknown_event_type_is_an_encode_error(codec: Codec) -> None:
    with pytest.raises(EncodeError, match="not a known event type"):
        codec.encode("GenerationDreamt", {})


def test_content_type_names_framing_and_schema(codec: Codec, registry_codec: Codec) -> None:
    assert CONTENT_TYPE_HEADER == "content-type"
    assert codec.content_type(EventName.REQUEST) == (
        "application/vnd.apache.avro+binary; framing=single-object; "
        "schema=io.diffstream.v1.GenerationRequest"
    )
    assert registry_codec.content_type("GenerationFailed") == content_type(
        EventName.FAILED, WireFormat.CONFLUENT
    )
    assert "framing=confluent; schema=io.diffstream.v1.GenerationFailed" in (
        registry_codec.content_type(EventName.FAILED)
    )


def test_headers_carry_content_type_and_trace_context(codec: Codec) -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert codec.headers(EventName.REQUEST, traceparent=traceparent, tracestate="a=1") == [
        ("content-type", codec.content_type(EventName.REQUEST).encode()),
        ("traceparent", traceparent.encode()),
        ("tracestate", b"a=1"),
    ]
    assert [key for key, _ in codec.headers(EventName.STATUS)] == ["content-type"]


def test_an_old_writer_decodes_with_the_newest_reader(tmp_path: Path) -> None:
    """The mechanism, with a throwaway v2 that adds a defaulted field (not a real version)."""
    folder = tmp_path / "GenerationCancel"
    folder.mkdir()
    shutil.copy(SCHEMA_DIR / "GenerationCancel" / "v1.avsc", folder / "v1.avsc")
    v2 = json.loads((folder / "v1.avsc").read_text())
    v2["fields"].append({"name": "requested_by", "type": "string", "default": "nobody"})
    (folder / "v2.avsc").write_text(json.dumps(v2))

    old_bytes = Codec.without_registry().encode(EventName.CANCEL, example(EventName.CANCEL))
    new_codec = Codec.without_registry(load_catalog(tmp_path))
    decoded = new_codec.decode(old_bytes)
    assert decoded.writer_version == 1
    assert decoded.value["requested_by"] == "nobody"
    assert new_codec.decode(new_codec.encode(EventName.CANCEL, decoded.value)).writer_version == 2
