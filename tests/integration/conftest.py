"""The session's real stack: Kafka and MinIO on free ports under a throwaway DIFFSTREAM_HOME.

The downloads (Kafka jars, the MinIO binary) come from the shared artifacts cache, so only
the first run on a machine pays for them. A stack that cannot start fails the tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from diffstream.settings import Settings
from infra.deploy.compose import compose_path
from infra.deploy.jaeger import jaeger_path
from infra.deploy.promtool import promtool_path
from infra.stack.isolated import isolated_settings
from infra.stack.local import LocalStack
from tests.integration.isolation import isolate

# Tools built from Go source (Jaeger takes about 10 minutes on two cores on a fresh machine):
# a test marked with a tool's name gets it built in the background from collection on, at
# the lowest priority, runs last and waits for that build. Marker -> (binary path, module).
GO_TOOLS: dict[str, tuple[Callable[[Settings], Path], str]] = {
    "jaeger": (jaeger_path, "infra.deploy.jaeger"),
    "promtool": (promtool_path, "infra.deploy.promtool"),
    "compose": (compose_path, "infra.deploy.compose"),
}
_builds: dict[str, subprocess.Popen[bytes]] = {}


def _build_log(marker: str) -> Path:
    return Settings().artifacts / f"{marker}-build.log"


def _needs_go_tool(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(marker) for marker in GO_TOOLS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that wait for a build run last (a stable sort), so the build overlaps the rest.
    items.sort(key=_needs_go_tool)


def pytest_collection_finish(session: pytest.Session) -> None:
    settings = Settings()
    for marker, (path, module) in GO_TOOLS.items():
        wanted = any(item.get_closest_marker(marker) for item in session.items)
        if not wanted or path(settings).exists():
            continue
        settings.artifacts.mkdir(parents=True, exist_ok=True)
        with _build_log(marker).open("wb") as log:
            _builds[marker] = subprocess.Popen(
                ["nice", "-n", "19", sys.executable, "-m", module, "--build-only"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )


@pytest.fixture(autouse=True)
def _go_tools_built(request: pytest.FixtureRequest) -> None:
    """Waits for the background build of each tool the test is marked with."""
    for marker, build in _builds.items():
        if request.node.get_closest_marker(marker):
            code = build.wait()
            log = _build_log(marker).read_text(errors="replace")
            assert code == 0, f"building {marker} failed:\n{log[-3000:]}"


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
def model_cores() -> tuple[int, ...] | None:
    """The last core for a bench's model calls (``--model-cores``) where there are two or
    more; None (nothing pinned) elsewhere."""
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    return (max(cores),) if len(cores) > 1 else None


@pytest.fixture
def isolated(settings: Settings) -> Settings:
    """The session stack with topics, consumer groups and a bucket of this test's own (a
    module that needs other settings defines its own ``isolated``)."""
    return isolate(settings)


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
