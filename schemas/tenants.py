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
from typing import Any, cast

from confluent_kafka import Message

from diffstream.settings import Settings
from diffstream.tables import TableView
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
) -> records.TenantKey:
    """The TenantKey record of a new key (the key itself is only hashed)."""
    now = now_millis()
    return records.TenantKey(
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


def revoked_tenant_key(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` marked revoked now."""
    return {**record, "revoked": True, "updated_at": now_millis()}


# The directory's entries are the topic's records, typed by the contract.
TenantKey = records.TenantKey


def as_tenant_key(record: Mapping[str, Any]) -> TenantKey:
    """The TenantKey fields of a decoded (or built) record."""
    return cast(TenantKey, {name: record[name] for name in TenantKey.__annotations__})


class TenantDirectory(TableView):
    """Every TenantKey of the topic, followed from its start on a thread of its own."""

    def __init__(self, settings: Settings, codec: Codec | None = None) -> None:
        self._codec = codec or Codec(settings)
        self._keys: dict[str, TenantKey] = {}
        self._lock = threading.Lock()
        # A new or revoked key is seen within about the table's fetch wait (50 ms).
        super().__init__(
            settings, settings.topic(TENANT_KEYS), name="tenant-keys", fetch_wait_ms=50
        )

    # -- lookups --------------------------------------------------------------------------

    def authenticate(self, key: str) -> TenantKey | None:
        """The live (not revoked) TenantKey of an API key, or None."""
        digest = hash_key(key)
        with self._lock:
            found = self._keys.get(digest)
        # The dict lookup already matched; compare_digest keeps the final check constant-time.
        if found is None or found["revoked"] or not hmac.compare_digest(found["key_hash"], digest):
            return None
        return found

    def secret_for(self, tenant: str | None) -> str | None:
        """The webhook secret of ``tenant``: that of its newest key (revoked or not)."""
        if tenant is None:
            return None
        with self._lock:
            keys = [k for k in self._keys.values() if k["tenant"] == tenant]
        return max(keys, key=lambda k: k["created_at"])["webhook_secret"] if keys else None

    def every_key(self) -> list[TenantKey]:
        """Every key known, oldest first."""
        with self._lock:
            return sorted(self._keys.values(), key=lambda k: k["created_at"])

    def find(self, prefix_or_hash: str) -> list[TenantKey]:
        """Keys whose hash or shown prefix starts with ``prefix_or_hash``."""
        return [
            key
            for key in self.every_key()
            if key["key_hash"].startswith(prefix_or_hash)
            or key["key_prefix"].startswith(prefix_or_hash)
        ]

    def apply(self, record: Mapping[str, Any]) -> None:
        """Take one TenantKey record into the directory (the follower's path; also for tests)."""
        key = as_tenant_key(record)
        with self._lock:
            self._keys[key["key_hash"]] = key

    # -- lifetime -------------------------------------------------------------------------

    def wait_caught_up(self, timeout_s: float) -> bool:
        """Whether every key written before ``start`` has been read, within ``timeout_s``."""
        return self.caught_up.wait(timeout_s)

    def _read(self, message: Message) -> None:
        if message.value() is None:
            return  # a tombstone: nothing to keep (keys are revoked, never deleted)
        try:
            decoded = self._codec.decode_message(message, expected=EventName.TENANT_KEY)
        except DecodeError as error:
            log.warning("skipping an undecodable tenant key: %s", error)
            return
        self.apply(decoded.value)
