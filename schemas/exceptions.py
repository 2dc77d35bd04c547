"""Errors of the event contract: loading schemas, encoding, decoding, validating."""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from diffstream.exceptions import DiffstreamError


class FieldError(NamedTuple):
    """One broken rule: the field, its value, the limit, and a sentence naming all three."""

    field: str
    value: object
    limit: object
    message: str


class ContractError(DiffstreamError):
    """Base class of the errors raised by the schemas package."""


class SchemaLoadError(ContractError):
    """An .avsc file is missing, unparsable, misplaced or edited after release."""


class EncodeError(ContractError):
    """A record does not fit its schema; names the field when it can be found."""

    def __init__(self, event: str, message: str, *, field: str | None = None) -> None:
        self.event = event
        self.field = field
        where = f"{event}.{field}" if field else event
        super().__init__(f"cannot encode {where}: {message}")


class DecodeError(ContractError):
    """Bytes that are not a known diffstream event; carries the Kafka coordinates when known."""

    #: Whether reading the same bytes again later may succeed (a registry outage, a schema
    #: version a newer build knows); False: the bytes are bad, dead-letter them.
    transient: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.reason = message
        self.topic = topic
        self.partition = partition
        self.offset = offset
        super().__init__(message)

    @property
    def coordinates(self) -> str | None:
        """``topic[partition]@offset`` (unknown parts as ``?``); None if all are unknown."""
        if self.topic is None and self.partition is None and self.offset is None:
            return None
        part = "?" if self.partition is None else str(self.partition)
        off = "?" if self.offset is None else str(self.offset)
        return f"{self.topic or '?'}[{part}]@{off}"

    def at(self, topic: str | None, partition: int | None, offset: int | None) -> DecodeError:
        """Fill in the coordinates that are still unknown; returns self."""
        self.topic = self.topic if self.topic is not None else topic
        self.partition = self.partition if self.partition is not None else partition
        self.offset = self.offset if self.offset is not None else offset
        return self

    def __str__(self) -> str:
        where = self.coordinates
        return f"{where}: {self.reason}" if where else self.reason


class UnknownSchemaError(DecodeError):
    """The bytes name a schema (fingerprint or registry id) that this build does not know."""


class UnknownVersionError(UnknownSchemaError):
    """A single-object fingerprint this build does not know: perhaps a newer schema version
    published before this worker was upgraded."""

    transient = True


class RegistryUnavailableError(DecodeError):
    """The Schema Registry could not be asked (unreachable, or it answered 5xx)."""

    transient = True


class ValidationError(ContractError):
    """A request breaks one or more limits; ``errors`` lists every broken rule."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(error.message for error in self.errors) or "invalid request")

    @property
    def fields(self) -> list[str]:
        """The names of the invalid fields, in the order they were found."""
        return [error.field for error in self.errors]


class DeadLetterError(ContractError):
    """Headers that do not describe a dead letter: a required header is missing or bad."""
