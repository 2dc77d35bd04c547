"""Settings of a prefix's own on a shared stack: its topics, consumer groups and bucket, so
that a test or a chaos scenario reads nothing another one wrote."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from diffstream.s3 import ensure_bucket, make_s3_client
from diffstream.settings import Settings, WebhookSettings
from infra.topic_provisioning import create_topics


def prefixed(settings: Settings, prefix: str, bucket: str, sections: dict[str, Any]) -> Settings:
    """``settings`` with its topics under ``prefix``, images in ``bucket`` and ``sections``
    (e.g. ``{"sink": SinkSettings(...)}``) in place; the topics and the bucket made."""
    own = settings.model_copy(update={"topic_prefix": prefix, "s3_bucket": bucket, **sections})
    create_topics(own)
    ensure_bucket(make_s3_client(own), own.s3_bucket, own.s3_region)
    return own


def local_webhooks(prefix: str, secret: str, **fields: Any) -> WebhookSettings:
    """A notifier group of ``prefix``'s own, signing with ``secret``, allowed to call a live
    receiver on 127.0.0.1 (it listens on a free, high port)."""
    return WebhookSettings(
        group_id=f"{prefix}notifier",
        signing_secret=SecretStr(secret),
        allow_hosts=frozenset({"127.0.0.1"}),
        allow_ports=frozenset({"1024-65535"}),
        **fields,
    )
