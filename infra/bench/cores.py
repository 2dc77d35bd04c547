"""The model's cores to itself (``--model-cores`` of ``bench`` and ``bench peers``): every
model call runs there, and everything else (the bench and its load, the stack, every server's
other threads) on the cores left, as an accelerator's work stays off the CPU that serves it."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager, suppress

import psutil

from infra.bench.exceptions import BenchError


@contextmanager
def off_model_cores(model_cores: Collection[int] | None, pids: Iterable[int]) -> Iterator[None]:
    """The block with every thread of this process and of ``pids`` (and their children) on
    the cores left once ``model_cores`` are taken out; what starts inside inherits that mask,
    and each engine pins its model calls back onto ``model_cores`` (cpu_cores). Every
    thread's mask is given back after, and a thread started inside (a pool's worker, a
    broker's new handler) gets this process's mask from before, so the bench's later figures
    have the whole machine again. None changes nothing."""
    if model_cores is None:
        yield
        return
    allowed = os.sched_getaffinity(0)
    wanted = frozenset(model_cores)
    others = allowed - wanted
    if not wanted < allowed:
        raise BenchError(
            f"--model-cores {','.join(map(str, sorted(wanted)))} must leave a core of "
            f"{sorted(allowed)} (the cores this bench may use) for everything else"
        )
    processes = [os.getpid(), *pids]
    saved = masks_of(_threads(processes))
    for tid in saved:
        _set(tid, others)
    try:
        yield
    finally:
        for tid in _threads(processes):
            _set(tid, saved.get(tid, allowed))


def _threads(pids: Iterable[int]) -> list[int]:
    """Every thread id of ``pids`` and their children, those alive now."""
    processes: list[psutil.Process] = []
    for pid in pids:
        with suppress(psutil.NoSuchProcess):
            root = psutil.Process(pid)
            processes += [root, *root.children(recursive=True)]
    tids: list[int] = []
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            tids += [thread.id for thread in process.threads()]
    return tids


def masks_of(tids: Iterable[int]) -> dict[int, set[int]]:
    """Each thread's cores, leaving out a thread that ended since it was listed (a pool's
    worker, a test runner's thread)."""
    masks: dict[int, set[int]] = {}
    for tid in tids:
        with suppress(ProcessLookupError):
            masks[tid] = os.sched_getaffinity(tid)
    return masks


def _set(tid: int, cores: set[int] | frozenset[int]) -> None:
    with suppress(ProcessLookupError):  # the thread ended meanwhile
        os.sched_setaffinity(tid, cores)
