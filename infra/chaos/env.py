"""The environment of a role process: the scenario's settings as ``DIFFSTREAM_*`` variables.

A role reads its settings from the environment (``Settings()``), so the suite writes the
same values it uses for its own clients: the broker, the bucket, the topic prefix and each
section a role reads (``DIFFSTREAM_PROCESSOR__*``, ...), field by field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from diffstream.settings import Settings

# The top-level settings a role needs to find the scenario's stack, topics and bucket.
_TOP_LEVEL = (
    "kafka_bootstrap",
    "topic_prefix",
    "topic_partitions",
    "s3_endpoint",
    "s3_access_key",
    "s3_secret_key",
    "s3_bucket",
    "s3_region",
    "home",
    "artifacts_dir",
)
_SECTIONS = ("processor", "sink", "webhooks", "engine", "limits")


def env_value(value: Any) -> str:
    """A setting's value as pydantic-settings parses it back from the environment."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (frozenset, set)):
        return json.dumps(sorted(str(item) for item in value))
    if isinstance(value, (tuple, list)):
        return json.dumps([str(item) for item in value])
    if isinstance(value, Path):
        return str(value)
    return str(value)


def section_env(name: str, section: BaseModel) -> dict[str, str]:
    """``DIFFSTREAM_<NAME>__<FIELD>`` for every field of one settings section that is set."""
    return {
        f"DIFFSTREAM_{name.upper()}__{field.upper()}": env_value(value)
        for field, value in section
        if value is not None
    }


def role_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every variable a role needs to run on ``settings``, plus ``extra``."""
    env: dict[str, str] = {}
    for field in _TOP_LEVEL:
        value = getattr(settings, field)
        if value is not None:
            env[f"DIFFSTREAM_{field.upper()}"] = env_value(value)
    for name in _SECTIONS:
        env.update(section_env(name, getattr(settings, name)))
    env.update(extra or {})
    return env
