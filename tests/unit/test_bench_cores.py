"""``--model-cores``: the bench, and every process it names or starts, leave the model's
cores while it runs, and get their masks back after."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from infra.bench.cores import masks_of, off_model_cores
from infra.bench.exceptions import BenchError

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs Linux and two cores, one to give the model",
)


def _mask_of_a_new_process() -> str:
    code = "import os; print(sorted(os.sched_getaffinity(0)))"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_bench_and_the_named_processes_leave_the_model_cores_and_come_back() -> None:
    cores = os.sched_getaffinity(0)
    model = frozenset({max(cores)})
    release = threading.Event()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with off_model_cores(model, [child.pid]):
            assert os.sched_getaffinity(0) == cores - model
            assert os.sched_getaffinity(child.pid) == cores - model
            assert _mask_of_a_new_process() == str(sorted(cores - model)), "inherited"
            started_inside = _thread_that_waits(release)
        assert os.sched_getaffinity(0) == cores
        assert os.sched_getaffinity(child.pid) == cores
        assert os.sched_getaffinity(started_inside) == cores, "a thread of the block"
    finally:
        child.kill()
        child.wait()
        release.set()


def _thread_that_waits(release: threading.Event) -> int:
    """The id of a thread alive until ``release`` is set (it inherits its starter's mask)."""
    thread = threading.Thread(target=release.wait, daemon=True)
    thread.start()
    assert thread.native_id is not None
    return thread.native_id


def test_model_cores_that_leave_nothing_else_are_refused() -> None:
    everything = frozenset(os.sched_getaffinity(0))
    with pytest.raises(BenchError, match="must leave a core"), off_model_cores(everything, []):
        pass
    assert os.sched_getaffinity(0) == everything


def test_a_thread_that_ended_since_it_was_listed_is_left_out() -> None:
    # A reaped process stands for it: its id is gone for sure, a joined thread's not at once.
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    alive = threading.get_native_id()
    assert masks_of([ended.pid, alive]) == {alive: os.sched_getaffinity(0)}
