"""Test tiers: unit (no services), integration (real Kafka + MinIO), slow (opt-in)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from processors.engine import InferenceEngine


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run tests that need real weights")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip_slow = pytest.mark.skip(reason="needs real model weights or a GPU; pass --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> InferenceEngine:
    """A loaded CPU inference engine (no warm-up, a home of its own), one per test module."""
    from processors.engine import EngineSettings, InferenceEngine  # noqa: PLC0415  # torch

    home = tmp_path_factory.mktemp("engine-home")
    engine = InferenceEngine(EngineSettings(device="cpu", warmup=False), home=home)
    engine.load()
    return engine
