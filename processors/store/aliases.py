"""Model aliases read as a table from ``diffusion.model-aliases``, and written to it.

Every processor follows the whole (compacted) topic, so an alias moved anywhere is seen
by every processor within about the table's fetch wait, without a restart.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from diffstream.kafka import make_producer
from diffstream.settings import Settings
from diffstream.tables import TableView
from processors.exceptions import ModelStoreUnavailableError
from schemas.codec import Codec
from schemas.events import EventName
from schemas.exceptions import DecodeError
from schemas.model_aliases import alias_key, new_model_alias, who
from schemas.topics import MODEL_ALIASES

log = logging.getLogger(__name__)

# An alias change reaches a processor within about this (and the broker's round trip).
FETCH_WAIT_MS = 100
WRITE_TIMEOUT_S = 30.0


class AliasTable(TableView):
    """Every live alias: ``(name, alias) -> ModelAlias record``."""

    def __init__(self, settings: Settings, codec: Codec | None = None) -> None:
        self._codec = codec or Codec(settings)
        self._aliases: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        super().__init__(
            settings,
            settings.topic(MODEL_ALIASES),
            name="model-aliases",
            fetch_wait_ms=FETCH_WAIT_MS,
        )

    def revision(self, name: str, alias: str) -> str | None:
        """The revision ``name``'s ``alias`` points at, or None."""
        with self._lock:
            record = self._aliases.get((name, alias))
        return None if record is None else str(record["revision"])

    def aliases(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every alias (of ``name``), sorted by name and alias."""
        with self._lock:
            found = [r for (n, _), r in self._aliases.items() if name in (None, n)]
        return sorted(found, key=lambda r: (r["name"], r["alias"]))

    def pointing_at(self, name: str, revision: str) -> list[str]:
        """The aliases of ``name`` that point at ``revision``."""
        return [r["alias"] for r in self.aliases(name) if r["revision"] == revision]

    def apply(self, record: dict[str, Any]) -> None:
        """Take one ModelAlias record (the follower's path; also for tests)."""
        with self._lock:
            self._aliases[(record["name"], record["alias"])] = record

    def _read(self, message: Message) -> None:
        key = (message.key() or b"").decode(errors="replace")
        if message.value() is None:  # a tombstone removes the alias
            name, _, alias = key.partition("/")
            with self._lock:
                self._aliases.pop((name, alias), None)
            return
        try:
            decoded = self._codec.decode_message(message, expected=EventName.MODEL_ALIAS)
        except DecodeError as error:
            log.warning("skipping an undecodable model alias %r: %s", key, error)
            return
        self.apply(decoded.value)


def write_alias(settings: Settings, name: str, alias: str, revision: str | None) -> None:
    """Point ``name``'s ``alias`` at ``revision``; None writes a tombstone (removes it)."""
    codec = Codec(settings)
    topic = settings.topic(MODEL_ALIASES)
    value = (
        None
        if revision is None
        else codec.encode(
            EventName.MODEL_ALIAS, new_model_alias(name, alias, revision, updated_by=who())
        )
    )
    errors: list[KafkaError] = []

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            errors.append(error)

    producer = make_producer(settings, {"enable.idempotence": True, "acks": "all"})
    try:
        producer.produce(
            topic,
            value,
            alias_key(name, alias).encode(),
            headers=codec.headers(EventName.MODEL_ALIAS) if value is not None else None,
            on_delivery=delivered,
        )
        left = producer.flush(WRITE_TIMEOUT_S)
    except KafkaException as exc:
        raise ModelStoreUnavailableError(f"writing {topic}: {exc}") from exc
    if left or errors:
        cause = errors[0].str() if errors else f"not acknowledged within {WRITE_TIMEOUT_S:g}s"
        raise ModelStoreUnavailableError(
            f"the alias {name}/{alias} was not written to {topic}: {cause} (is Kafka up at "
            f"{settings.kafka_bootstrap} and `diffstream topics create` done?)"
        )
