"""Creating and revoking API keys: TenantKey records into the compacted keys topic."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, NamedTuple

from diffstream.settings import Settings
from producers.client.delivery import send_event
from producers.exceptions import InputError
from schemas.codec import Codec
from schemas.events import EventName
from schemas.tenants import (
    TenantDirectory,
    TenantKey,
    as_tenant_key,
    new_api_key,
    new_tenant_key,
    new_webhook_secret,
    revoked_tenant_key,
)
from schemas.topics import TENANT_KEYS

log = logging.getLogger(__name__)

CATCH_UP_S = 15.0


class CreatedKey(NamedTuple):
    """A new key: shown once, never stored."""

    tenant: str
    key: str
    webhook_secret: str
    record: TenantKey


def key_directory(settings: Settings, codec: Codec | None = None) -> TenantDirectory:
    """A directory of every key in the topic, read up to now (and then no longer followed)."""
    with TenantDirectory(settings, codec) as directory:
        if not directory.wait_caught_up(CATCH_UP_S):
            raise InputError(
                f"could not read {settings.topic(TENANT_KEYS)} within {CATCH_UP_S:g}s "
                "(is Kafka up and `diffstream topics create` done?)"
            )
    return directory


def create_key(
    settings: Settings,
    tenant: str,
    *,
    rate_per_s: float,
    images_per_min: int,
    max_in_flight: int,
) -> CreatedKey:
    """Publish a new key for ``tenant``, keeping the tenant's webhook secret if it has one."""
    if not tenant or len(tenant) > settings.limits.max_tenant_chars or not tenant.isprintable():
        raise InputError(
            f"--tenant {tenant!r}: expected 1 to {settings.limits.max_tenant_chars} "
            "printable characters"
        )
    codec = Codec(settings)
    secret = key_directory(settings, codec).secret_for(tenant) or new_webhook_secret()
    key = new_api_key()
    record = new_tenant_key(
        tenant,
        key,
        rate_per_s=rate_per_s,
        images_per_min=images_per_min,
        max_in_flight=max_in_flight,
        webhook_secret=secret,
    )
    _write(settings, codec, record)
    return CreatedKey(tenant, key, secret, record)


def revoke_key(settings: Settings, prefix_or_hash: str) -> TenantKey:
    """Revoke the one key whose shown prefix or hash starts with ``prefix_or_hash``."""
    codec = Codec(settings)
    matches = key_directory(settings, codec).find(prefix_or_hash)
    if len(prefix_or_hash) < 6 or len(matches) != 1:
        found = ", ".join(k["key_prefix"] for k in matches) or "none"
        raise InputError(
            f"{prefix_or_hash!r} must name exactly one key by its prefix or hash "
            f"(6+ characters); matches: {found}"
        )
    record = revoked_tenant_key(matches[0])
    _write(settings, codec, record)
    return as_tenant_key(record)


def _write(settings: Settings, codec: Codec, record: Mapping[str, Any]) -> None:
    topic, key = settings.topic(TENANT_KEYS), str(record["key_hash"]).encode()
    send_event(settings, codec, topic, EventName.TENANT_KEY, record, key=key)
