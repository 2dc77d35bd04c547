"""The Confluent wire format (magic byte 0 + 4-byte schema id + Avro body) via Schema Registry.

confluent-kafka's AvroSerializer/AvroDeserializer do the work; this module only picks one
per event type. Subjects use the record name strategy (``io.diffstream.v1.GenerationRequest``)
because one event type travels on several topics (both request lanes) with one schema.
"""

from __future__ import annotations

import json
import logging
import struct
import threading
from collections.abc import Mapping
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient, record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas.catalog import Catalog
from schemas.exceptions import DecodeError, RegistryUnavailableError, UnknownSchemaError

logger = logging.getLogger(__name__)

MAGIC = 0
HEADER_SIZE = 5


def is_confluent(data: bytes) -> bool:
    """Whether the bytes start like the Confluent wire format (magic byte 0)."""
    return len(data) > 0 and data[0] == MAGIC


def schema_id_of(data: bytes) -> int:
    """The registry schema id in a Confluent header; the caller checked the length."""
    (schema_id,) = struct.unpack_from(">I", data, 1)
    return int(schema_id)


def registry_client(url: str) -> SchemaRegistryClient:
    """A client for ``url``; ``mock://anything`` gives confluent-kafka's in-memory registry."""
    return SchemaRegistryClient.new_client({"url": url})


class RegistrySerde:
    """Encode with the newest schema of each event, decode any schema id the registry knows."""

    def __init__(
        self, client: SchemaRegistryClient, catalog: Catalog, *, auto_register: bool = True
    ) -> None:
        self._client = client
        self._catalog = catalog
        self._auto_register = auto_register
        self._serializers: dict[str, AvroSerializer] = {}
        self._deserializers: dict[str, AvroDeserializer] = {}
        self._by_id: dict[int, tuple[str, int | None]] = {}
        self._lock = threading.Lock()

    def encode(self, event: str, record: Mapping[str, Any], topic: str | None) -> bytes:
        """Serialize with the newest schema, registering it on first use when allowed."""
        serializer = self._serializers.get(event) or self._make_serializer(event)
        ctx = SerializationContext(topic or "", MessageField.VALUE)
        data = serializer(record, ctx)
        if data is None:  # only for a None record, which the codec never passes
            raise ValueError("the serializer returned no bytes")
        return bytes(data)

    def event_of(self, data: bytes) -> tuple[str, int | None]:
        """The event type and catalog version a Confluent-framed value was written with."""
        schema_id = schema_id_of(data)
        known = self._by_id.get(schema_id)
        if known is not None:
            return known
        try:
            schema_str = self._client.get_schema(schema_id).schema_str or "{}"
            parsed = parse_schema(json.loads(schema_str))
            name = str(parsed.get("name", "")) if isinstance(parsed, dict) else ""
            digest = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
        except SchemaRegistryError as exc:
            if exc.http_status_code is not None and exc.http_status_code < 500:
                message = f"schema id {schema_id} is not in the registry: {exc}"
                raise UnknownSchemaError(message) from exc
            raise RegistryUnavailableError(f"Schema Registry answered: {exc}") from exc
        except Exception as exc:  # connection errors of the HTTP client have no common base
            raise RegistryUnavailableError(f"Schema Registry unreachable: {exc}") from exc
        event = name.rsplit(".", 1)[-1]
        if event not in self._catalog.events:
            raise UnknownSchemaError(f"schema id {schema_id} is {name!r}, not a diffstream event")
        # A version registered by someone else (not in our catalog) still decodes via the
        # registry's writer schema; only its version number is unknown.
        version = self._catalog.by_fingerprint(digest)
        known = (event, version.version if version else None)
        self._by_id[schema_id] = known
        return known

    def decode(self, event: str, data: bytes) -> dict[str, Any]:
        """Read a value written with any registered version, resolved to the newest schema."""
        deserializer = self._deserializers.get(event) or self._make_deserializer(event)
        # No context: without a subject the deserializer skips rule execution, which we don't use.
        value = deserializer(data, None)
        if not isinstance(value, dict):
            raise DecodeError(f"expected a record, got {type(value).__name__}")
        return value

    def _make_serializer(self, event: str) -> AvroSerializer:
        with self._lock:
            if event not in self._serializers:
                conf = {
                    "auto.register.schemas": self._auto_register,
                    "subject.name.strategy": record_subject_name_strategy,
                    # Reject misspelt field names instead of dropping them silently.
                    "validate.strict.allow.default": True,
                }
                schema_str = self._catalog.latest(event).schema_str
                self._serializers[event] = AvroSerializer(self._client, schema_str, conf=conf)
            return self._serializers[event]

    def _make_deserializer(self, event: str) -> AvroDeserializer:
        with self._lock:
            if event not in self._deserializers:
                schema_str = self._catalog.latest(event).schema_str
                self._deserializers[event] = AvroDeserializer(self._client, schema_str)
            return self._deserializers[event]
