"""Test tiers: unit (no services), integration (real Kafka + MinIO), slow (opt-in)."""

from __future__ import annotations

import faulthandler
import sys
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


# How long the interpreter may take to exit once the session is over. A thread that is
# joined at exit and never returns once kept a green session from ending until CI's limit;
# past this the stacks of every thread are printed and the run fails.
EXIT_GRACE_S = 120


def pytest_unconfigure(config: pytest.Config) -> None:
    faulthandler.dump_traceback_later(EXIT_GRACE_S, exit=True, file=sys.__stderr__ or 2)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> InferenceEngine:
    """A loaded CPU inference engine (no warm-up, a home of its own), one per test module."""
    from processors.engine import EngineSettings, InferenceEngine  # noqa: PLC0415  # torch

    home = tmp_path_factory.mktemp("engine-home")
    engine = InferenceEngine(EngineSettings(device="cpu", warmup=False), home=home)
    engine.load()
    return engine
