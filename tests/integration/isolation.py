"""Settings of a test's own on the shared session stack: topics, groups and a bucket."""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any

import pytest

from diffstream.settings import ProcessorSettings, Settings, SinkSettings
from infra.stack.prefixed import local_webhooks, prefixed

SMALL: dict[str, Any] = {"width": 64, "height": 64, "steps": 2, "guidance_scale": 5.0}
SECRET = "whsec_" + base64.b64encode(b"integration-test-secret-012345").decode()


def isolate(
    settings: Settings,
    *,
    producer: dict[str, Any] | None = None,
    processor: dict[str, Any] | None = None,
    sink: dict[str, Any] | None = None,
    webhooks: dict[str, Any] | None = None,
) -> Settings:
    """Every topic, consumer group and the bucket of this test's own, with timeouts short
    enough for tests; webhooks to 127.0.0.1 are allowed. Overrides go per section."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    return prefixed(
        settings,
        prefix,
        prefix.rstrip(".") + "-images",
        {
            "producer": settings.producer.model_copy(
                update={"publish_timeout_s": 20.0, "admin_timeout_s": 15.0, **(producer or {})}
            ),
            "processor": ProcessorSettings(
                group_id=f"{prefix}processors",
                instance_id=f"{prefix}worker",
                static_membership=True,
                session_timeout_ms=6000,
                max_poll_interval_ms=7000,
                max_batch_size=8,
                max_batch_wait_ms=20,
                **(processor or {}),
            ),
            "sink": SinkSettings(
                group_id=f"{prefix}image-sink",
                instance_id=f"{prefix}sink",
                static_membership=True,
                session_timeout_ms=6000,
                max_poll_interval_ms=10000,
                transaction_timeout_ms=10000,
                retry_initial_s=0.2,
                retry_max_s=2.0,
                **(sink or {}),
            ),
            "webhooks": local_webhooks(
                prefix,
                SECRET,
                initial_backoff_s=0.05,
                max_backoff_s=0.5,
                session_timeout_ms=6000,
                commit_interval_s=0.2,
                **(webhooks or {}),
            ),
        },
    )


def point_cli_at(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the ``diffstream`` commands a test invokes use ``settings``: broker, topics, bucket."""
    for name, value in _cli_variables(settings).items():
        monkeypatch.setenv(name, value)


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment that points a ``diffstream`` process at this test's topics."""
    return {**os.environ, **_cli_variables(settings)}


def _cli_variables(settings: Settings) -> dict[str, str]:
    return {
        "DIFFSTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DIFFSTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "DIFFSTREAM_S3_ENDPOINT": settings.s3_endpoint,
        "DIFFSTREAM_S3_BUCKET": settings.s3_bucket,
    }
