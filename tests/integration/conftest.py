"""The session's real stack: Kafka and MinIO on free ports under a throwaway DIFFSTREAM_HOME.

The downloads (Kafka jars, the MinIO binary) come from the shared artifacts cache, so only
the first run on a machine pays for them. A stack that cannot start fails the tests.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from diffstream.settings import Settings
from infra.deploy.jaeger import JAEGER_VERSION
from infra.stack.isolated import isolated_settings
from infra.stack.local import LocalStack

# Building Jaeger takes about 10 minutes on two cores on a fresh machine: it starts when the
# tests are collected, at the lowest priority, and the trace test waits for it.
_jaeger_build: subprocess.Popen[bytes] | None = None


def pytest_collection_finish(session: pytest.Session) -> None:
    global _jaeger_build  # noqa: PLW0603  # one build per session
    wanted = any(item.get_closest_marker("jaeger") for item in session.items)
    artifacts = Settings().artifacts
    if not wanted or (artifacts / f"jaeger-{JAEGER_VERSION}" / "jaeger").exists():
        return
    artifacts.mkdir(parents=True, exist_ok=True)
    with (artifacts / "jaeger-build.log").open("wb") as log:
        _jaeger_build = subprocess.Popen(
            ["nice", "-n", "19", sys.executable, "-m", "infra.deploy.jaeger", "--build-only"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def jaeger_built() -> None:
    """Waits for the session's background Jaeger build, if one is running."""
    if _jaeger_build is not None:
        code = _jaeger_build.wait()
        log = (Settings().artifacts / "jaeger-build.log").read_text(errors="replace")
        assert code == 0, f"building Jaeger failed:\n{log[-3000:]}"


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
