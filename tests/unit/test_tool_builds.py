"""Tools built from Go source: one build at a time, however many processes want one."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from infra.deploy.tools import built_once


def test_a_second_build_waits_for_the_first_and_finds_the_tool_built(tmp_path: Path) -> None:
    binary = tmp_path / "tool-v1" / "tool"
    builds: list[str] = []

    def build(name: str) -> None:
        builds.append(name)
        time.sleep(0.3)  # the others are checking meanwhile
        binary.write_text("built")

    def want(name: str) -> None:
        assert built_once(binary, lambda: build(name)) == binary

    workers = [threading.Thread(target=want, args=(f"worker {n}",)) for n in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
    assert len(builds) == 1
    assert binary.read_text() == "built"


def test_a_built_tool_takes_no_lock(tmp_path: Path) -> None:
    binary = tmp_path / "tool"
    binary.write_text("built")
    built: list[bool] = []
    assert built_once(binary, lambda: built.append(True)) == binary
    assert built == []
    assert not (tmp_path / "tool.lock").exists()
