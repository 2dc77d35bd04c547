"""Acceptance: a second, independent Avro implementation (the ``avro`` package from PyPI)
reads what diffstream writes, from the ``.avsc`` files alone, and the other way round."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import avro.io
import avro.schema
import pytest

from schemas.catalog import SCHEMA_DIR
from schemas.codec import Codec
from schemas.events import EventName
from schemas.examples import example

CODEC = Codec.without_registry()
_LOGICAL_PRIMITIVE = re.compile(r'\{"type":"(null|boolean|int|long|float|double|bytes|string)"\}')


def _avro_schema(event: EventName) -> avro.schema.Schema:
    # The newest file: the one diffstream writes with.
    newest = max((SCHEMA_DIR / event.value).glob("v*.avsc"), key=lambda p: int(p.stem[1:]))
    return avro.schema.parse(newest.read_text(encoding="utf-8"))


def _spec_fingerprint(schema: avro.schema.Schema) -> bytes:
    """avro's CRC-64-AVRO fingerprint of the Parsing Canonical Form as the spec defines it.

    avro 1.12 strips ``logicalType`` but leaves ``{"type":"long"}`` where the spec's
    [PRIMITIVES] rule (and the Java reference, and fastavro) write ``"long"``; so we apply
    that one rule and let avro fingerprint the result, which has no logical types left.
    """
    canonical = _LOGICAL_PRIMITIVE.sub(r'"\1"', schema.canonical_form)
    fingerprint: bytes = avro.schema.parse(canonical).fingerprint("CRC-64-AVRO")
    return fingerprint


def _plain(value: Any) -> Any:
    """Our decoded values with UUIDs as strings, as avro returns them."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


@pytest.mark.parametrize("event", list(EventName))
def test_avro_package_reads_diffstream_events_from_the_avsc_alone(event: EventName) -> None:
    record = example(event)
    data = CODEC.encode(event, record)
    schema = _avro_schema(event)

    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == _spec_fingerprint(schema)

    decoder = avro.io.BinaryDecoder(io.BytesIO(data[10:]))
    decoded = avro.io.DatumReader(schema).read(decoder)
    assert decoded == _plain(record)


@pytest.mark.parametrize("event", list(EventName))
def test_diffstream_reads_events_written_by_the_avro_package(event: EventName) -> None:
    schema = _avro_schema(event)
    record = _plain(example(event))
    body = io.BytesIO()
    avro.io.DatumWriter(schema).write(record, avro.io.BinaryEncoder(body))
    data = b"\xc3\x01" + _spec_fingerprint(schema) + body.getvalue()

    decoded = CODEC.decode(data, expected=event)
    assert _plain(decoded.value) == record


def test_avro_package_fingerprint_differs_only_by_the_logical_type_rule() -> None:
    """Documents the avro 1.12 quirk the helper above works around, so we notice a fix."""
    schema = _avro_schema(EventName.CANCEL)
    assert '{"type":"string"}' in schema.canonical_form
    assert schema.fingerprint("CRC-64-AVRO") != _spec_fingerprint(schema)
