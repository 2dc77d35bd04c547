"""Settings of a stack of its own (tests, the fault suite), beside any running one."""

from __future__ import annotations

from pathlib import Path

from diffstream.settings import Settings
from infra.stack.ports import free_port


def isolated_settings(home: Path, **overrides: object) -> Settings:
    """Settings for a stack of its own: free ports, its own home, the shared downloads
    (Kafka jars, the MinIO build), so that nothing of a running stack is touched."""
    shared = Settings()
    values: dict[str, object] = {
        "home": home,
        "artifacts_dir": shared.artifacts,
        "kafka_bootstrap": f"127.0.0.1:{free_port()}",
        "kafka_controller_port": free_port(),
        "s3_endpoint": f"http://127.0.0.1:{free_port()}",
        "kafka_heap": "512m",
        "topic_partitions": 3,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]
