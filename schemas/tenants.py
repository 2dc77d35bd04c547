"""Tenants' API keys: the TenantKey record, key hashing, and a reader of the compacted topic.

A key is shown once, when it is created; only its SHA-256 travels in
``diffusion.tenant-keys`` (compacted, keyed by the hash). Every gateway instance and every
notifier follows the whole topic with a ``TenantDirectory``, so a key created or revoked
anywhere is seen everywhere within about a poll interval.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from confluent_kafka import Message

from diffstream.settings import Settings
from diffstream.tables import CompactedTable
from schemas import records
from schemas.builders import now_millis
from schemas.codec import Codec
from schemas.events import EventName
from schemas.exceptions import DecodeError
from schemas.topics import TENANT_KEYS

log = logging.getLogger(__name__)

KEY_PREFIX = "ds_"
_SHOWN_CHARS = 8


def new_api_key() -> str:
    """A fresh API key: ``ds_`` and 43 URL-safe characters (256 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def hash_key(key: str) -> str:
    """The lower-case hex SHA-256 of a key: its id in the topic."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_tenant_key(
    tenant: str,
    key: str,
    *,
    rate_per_s: float,
    images_per_min: int,
    max_in_flight: int,
    webhook_secret: str,
) -> dict[str, Any]:
    """The TenantKey record of a new key (the key itself is only hashed)."""
    now = now_millis()
    record = records.TenantKey(
        key_hash=hash_key(key),
        key_prefix=key[: len(KEY_PREFIX) + _SHOWN_CHARS],
        tenant=tenant,
        created_at=now,
        updated_at=now,
        revoked=False,
        rate_per_s=float(rate_per_s),
        images_per_min=int(images_per_min),
        max_in_flight=int(max_in_flight),
        webhook_secret=webhook_secret,
    )
    return {**record}


def revoked_tenant_key(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` marked revoked now."""
    return {**record, "revoked": True, "updated_at": now_millis()}


class TenantKey(NamedTuple):
    """One key as the directory holds it."""

    key_hash: str
    key_prefix: str
    tenant: str
    created_at: datetime
    updated_at: datetime
    revoked: bool
    rate_per_s: float
    images_per_min: int
    max_in_flight: int
    webhook_secret: str

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TenantKey:
        """From a decoded TenantKey record."""
        return cls(**{name: record[name] for name in cls._fields})

    def record(self) -> dict[str, Any]:
        """Back to a TenantKey record."""
        return self._asdict()


class TenantDirectory:
    """Every TenantKey of the topic, followed from its start on a thread of its own."""

    def __init__(self, settings: Settings, codec: Codec | None = None) -> None:
        self._settings = settings
        self._codec = codec or Codec(settings)
        self._topic = settings.topic(TENANT_KEYS)
        self._keys: dict[str, TenantKey] = {}
        self._lock = threading.Lock()
        # A new or revoked key is seen within about the table's fetch wait (50 ms).
        self._table = CompactedTable(
            settings, self._topic, self._take, name="tenant-keys", fetch_wait_ms=50
        )
        self.caught_up = self._table.caught_up

    # -- lookups --------------------------------------------------------------------------

    def authenticate(self, key: str) -> TenantKey | None:
        """The live (not revoked) TenantKey of an API key, or None."""
        digest = hash_key(key)
        with self._lock:
            found = self._keys.get(digest)
        # The dict lookup already matched; compare_digest keeps the final check constant-time.
        if found is None or found.revoked or not hmac.compare_digest(found.key_hash, digest):
            return None
        return found

    def secret_for(self, tenant: str | None) -> str | None:
        """The webhook secret of ``tenant``: that of its newest key (revoked or not)."""
        if tenant is None:
            return None
        with self._lock:
            keys = [k for k in self._keys.values() if k.tenant == tenant]
        return max(keys, key=lambda k: k.created_at).webhook_secret if keys else None

    def keys(self) -> list[TenantKey]:
        """Every key known, oldest first."""
        with self._lock:
            return sorted(self._keys.values(), key=lambda k: k.created_at)

    def find(self, prefix_or_hash: str) -> list[TenantKey]:
        """Keys whose hash or shown prefix starts with ``prefix_or_hash``."""
        return [
            k
            for k in self.keys()
            if k.key_hash.startswith(prefix_or_hash) or k.key_prefix.startswith(prefix_or_hash)
        ]

    def apply(self, record: Mapping[str, Any]) -> None:
        """Take one TenantKey record into the directory (the follower's path; also for tests)."""
        key = TenantKey.from_record(record)
        with self._lock:
            self._keys[key.key_hash] = key

    # -- lifetime -------------------------------------------------------------------------

    def start(self) -> TenantDirectory:
        """Start following the topic."""
        self._table.start()
        return self

    def wait_caught_up(self, timeout_s: float) -> bool:
        """Whether every key written before ``start`` has been read, within ``timeout_s``."""
        return self.caught_up.wait(timeout_s)

    def stop(self) -> None:
        """Stop following and close the consumer."""
        self._table.stop()

    def __enter__(self) -> TenantDirectory:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _take(self, message: Message) -> None:
        if message.value() is None:
            return  # a tombstone: nothing to keep (keys are revoked, never deleted)
        try:
            decoded = self._codec.decode_message(message, expected=EventName.TENANT_KEY)
        except DecodeError as error:
            log.warning("skipping an undecodable tenant key: %s", error)
            return
        self.apply(decoded.value)
