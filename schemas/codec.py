"""Encode events to bytes and back: Avro single-object encoding, or the Confluent wire format.

Without a Schema Registry every value is ``C3 01`` + fingerprint + Avro binary, readable by
any Avro library from the ``.avsc`` files alone. With ``DIFFSTREAM_SCHEMA_REGISTRY_URL`` set,
values are written in the Confluent wire format. Decoding accepts both, told apart by the
first byte, and resolves every known writer version to the newest reader schema.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NamedTuple

from confluent_kafka import Message
from confluent_kafka.schema_registry import SchemaRegistryClient
from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import validate

from diffstream.settings import Settings
from schemas import registry, single_object
from schemas.catalog import Catalog, SchemaVersion, load_catalog
from schemas.events import NAMESPACE, EventName
from schemas.exceptions import DecodeError, EncodeError, UnknownVersionError

logger = logging.getLogger(__name__)

CONTENT_TYPE_HEADER = "content-type"
TRACEPARENT_HEADER = "traceparent"
TRACESTATE_HEADER = "tracestate"
_MEDIA_TYPE = "application/vnd.apache.avro+binary"
_MISSING_FIELD = re.compile(r"Field (\S+) is specified in the schema but missing")
_EXTRA_FIELD = re.compile(r"more fields than the schema specifies: (\S+)")


class WireFormat(StrEnum):
    """How an Avro body is framed on the wire."""

    SINGLE_OBJECT = "single-object"
    CONFLUENT = "confluent"


class DecodedEvent(NamedTuple):
    """A decoded value: its event type, the record, and how it was written."""

    event: EventName
    value: dict[str, Any]
    wire_format: WireFormat
    writer_version: int | None


def content_type(event: EventName | str, wire_format: WireFormat = WireFormat.SINGLE_OBJECT) -> str:
    """The ``content-type`` header value for an event, e.g. ``application/vnd.apache.avro+binary;
    framing=single-object; schema=io.diffstream.v1.GenerationRequest``."""
    return f"{_MEDIA_TYPE}; framing={wire_format}; schema={NAMESPACE}.{EventName(event)}"


class Codec:
    """Encoder and decoder for every diffstream event; safe to share between threads."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        catalog: Catalog | None = None,
        registry_client: SchemaRegistryClient | None = None,
    ) -> None:
        self._catalog = catalog or load_catalog()
        self._latest = {name: self._catalog.latest(name) for name in self._catalog.events}
        if registry_client is None:
            url = (settings or Settings()).schema_registry_url
            registry_client = registry.registry_client(url) if url else None
        self._registry = (
            registry.RegistrySerde(registry_client, self._catalog) if registry_client else None
        )

    @classmethod
    def without_registry(cls, catalog: Catalog | None = None) -> Codec:
        """A codec that writes single-object encoding whatever the environment says."""
        return cls(Settings(schema_registry_url=None), catalog=catalog)

    @property
    def wire_format(self) -> WireFormat:
        """The framing ``encode`` writes."""
        return WireFormat.CONFLUENT if self._registry else WireFormat.SINGLE_OBJECT

    @property
    def catalog(self) -> Catalog:
        """The schemas this codec knows."""
        return self._catalog

    def content_type(self, event: EventName | str) -> str:
        """The ``content-type`` header for values this codec writes."""
        return content_type(event, self.wire_format)

    def headers(
        self,
        event: EventName | str,
        *,
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> list[tuple[str, str | bytes | None]]:
        """Kafka headers for a value this codec writes: content-type, then W3C trace context."""
        headers: list[tuple[str, str | bytes | None]] = [
            (CONTENT_TYPE_HEADER, self.content_type(event).encode())
        ]
        if traceparent:
            headers.append((TRACEPARENT_HEADER, traceparent.encode()))
            if tracestate:
                headers.append((TRACESTATE_HEADER, tracestate.encode()))
        return headers

    def encode(
        self, event: EventName | str, record: Mapping[str, Any], *, topic: str | None = None
    ) -> bytes:
        """Serialize with the newest schema of ``event``; ``EncodeError`` names the bad field."""
        schema = self._schema_for(event)
        try:
            if self._registry is not None:
                return self._registry.encode(schema.event, record, topic)
            buffer = io.BytesIO()
            buffer.write(single_object.header(schema.fingerprint))
            # strict_allow_default: a misspelt field name fails here instead of vanishing.
            schemaless_writer(buffer, schema.parsed, record, strict_allow_default=True)
            return buffer.getvalue()
        except Exception as exc:  # fastavro and the serializer raise many unrelated types
            raise _encode_error(schema, record, exc) from exc

    def decode(
        self,
        data: bytes | None,
        *,
        expected: EventName | str | None = None,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> DecodedEvent:
        """Read a value in either framing; raises only ``DecodeError`` (or its subclasses)."""
        try:
            decoded = self._decode(data)
        except DecodeError as exc:
            exc.at(topic, partition, offset)
            raise
        except Exception as exc:  # a poison value must never escape as anything untyped
            raise DecodeError(
                f"undecodable value: {type(exc).__name__}: {_short(str(exc), 300)}",
                topic=topic,
                partition=partition,
                offset=offset,
            ) from exc
        if expected is not None and decoded.event != expected:
            raise DecodeError(
                f"expected a {expected} event, got {decoded.event}",
                topic=topic,
                partition=partition,
                offset=offset,
            )
        return decoded

    def decode_message(
        self, message: Message, *, expected: EventName | str | None = None
    ) -> DecodedEvent:
        """``decode`` the value of a consumed message; errors name its coordinates."""
        return self.decode(
            message.value(),
            expected=expected,
            topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
        )

    def _decode(self, data: bytes | None) -> DecodedEvent:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise DecodeError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
        if single_object.is_single_object(data):
            return self._decode_single_object(data)
        if registry.is_confluent(data):
            return self._decode_confluent(data)
        raise DecodeError(f"unknown framing: first bytes {data[:2].hex() or '(empty)'}")

    def _decode_single_object(self, data: bytes) -> DecodedEvent:
        if len(data) < single_object.HEADER_SIZE:
            raise DecodeError(f"truncated single-object header ({len(data)} bytes)")
        digest = single_object.fingerprint_of(data)
        writer = self._catalog.by_fingerprint(digest)
        if writer is None:
            raise UnknownVersionError(f"unknown schema fingerprint {digest.hex()}")
        reader = self._latest[writer.event]
        stream = io.BytesIO(data)
        stream.seek(single_object.HEADER_SIZE)
        # Same schema: no reader schema, so fastavro skips resolution.
        resolve_to = None if reader is writer else reader.parsed
        value = schemaless_reader(stream, writer.parsed, resolve_to)
        if stream.tell() != len(data):
            raise DecodeError(f"{len(data) - stream.tell()} trailing bytes after the record")
        if not isinstance(value, dict):
            raise DecodeError(f"expected a record, got {type(value).__name__}")
        return DecodedEvent(
            EventName(writer.event), value, WireFormat.SINGLE_OBJECT, writer.version
        )

    def _decode_confluent(self, data: bytes) -> DecodedEvent:
        if self._registry is None:
            raise DecodeError(
                "Confluent wire format, but DIFFSTREAM_SCHEMA_REGISTRY_URL is not set"
            )
        if len(data) <= registry.HEADER_SIZE:
            raise DecodeError(f"truncated Confluent header ({len(data)} bytes)")
        event, version = self._registry.event_of(data)
        value = self._registry.decode(event, data)
        return DecodedEvent(EventName(event), value, WireFormat.CONFLUENT, version)

    def _schema_for(self, event: EventName | str) -> SchemaVersion:
        try:
            return self._latest[str(event)]
        except KeyError:
            raise EncodeError(str(event), "not a known event type") from None


def _encode_error(schema: SchemaVersion, record: object, exc: Exception) -> EncodeError:
    """An EncodeError naming the field fastavro choked on (dotted path) and what it expected."""
    try:
        validate(record, schema.parsed, raise_errors=True, strict=True)
    except Exception as failure:  # fastavro's ValidationError, or anything a weird record raises
        errors = [e for e in getattr(failure, "errors", ()) if getattr(e, "field", "")]
        if errors:
            # Nested failures list every enclosing field, outermost first; a union repeats
            # its field once per level, so drop consecutive repeats.
            names = [str(e.field).rsplit(".", 1)[-1] for e in errors]
            path = ".".join(n for i, n in enumerate(names) if i == 0 or names[i - 1] != n)
            inner = errors[-1]
            expected = _describe(inner.schema)
            got = f"{_short(repr(inner.datum))} ({type(inner.datum).__name__})"
            return EncodeError(schema.event, f"got {got}, expected {expected}", field=path)
    for pattern in (_MISSING_FIELD, _EXTRA_FIELD):
        match = pattern.search(str(exc))
        if match:
            return EncodeError(schema.event, str(exc), field=match.group(1))
    return EncodeError(schema.event, _short(str(exc)))


def _describe(schema: object) -> str:
    if isinstance(schema, dict):
        if "symbols" in schema:
            return f"one of {schema['symbols']}"
        return str(schema.get("name") or schema.get("type"))
    if isinstance(schema, list):
        return " or ".join(_describe(branch) for branch in schema)
    return str(schema)


def _short(value: object, limit: int = 160) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
