"""The session's real stack: Kafka and MinIO on free ports under a throwaway DIFFSTREAM_HOME.

The downloads (Kafka jars, the MinIO binary) come from the shared artifacts cache, so only
the first run on a machine pays for them. A stack that cannot start fails the tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from diffstream.settings import Settings
from infra.stack.isolated import isolated_settings
from infra.stack.local import LocalStack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalStack(isolated_settings(tmp_path_factory.mktemp("home")))
    try:
        local.up()
        yield local
    finally:
        local.down(purge=True)


@pytest.fixture(scope="session")
def settings(stack: LocalStack) -> Settings:
    return stack.settings


@pytest.fixture
def new_topic(settings: Settings) -> Iterator[Callable[..., str]]:
    """A factory of fresh, uniquely named topics, deleted after the test."""
    admin = AdminClient(settings.kafka_config())
    created: list[str] = []

    def make(partitions: int = 1, config: dict[str, str] | None = None) -> str:
        name = f"test.{uuid.uuid4().hex[:12]}"
        futures = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])
        futures[name].result(timeout=30)
        created.append(name)
        return name

    yield make
    if created:
        for future in admin.delete_topics(created).values():
            future.result(timeout=30)
