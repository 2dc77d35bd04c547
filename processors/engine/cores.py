"""Model calls on cores of their own (``EngineSettings.cpu_cores``).

Linux keeps a CPU mask per thread: pinning the thread that calls the model moves the model's
computation (and torch's intra-op threads, which start from it and inherit its mask) onto
those cores, while the process's other threads (polling, encoding, HTTP) stay where they
were started. The pin lasts one call, so a thread that also does other work gets its own
mask back after it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from processors.exceptions import EngineConfigurationError

_FIX = "set DIFFSTREAM_ENGINE__CPU_CORES to cores of this machine (e.g. '[1]'), or unset it"


def checked_cores(cores: tuple[int, ...] | None) -> frozenset[int] | None:
    """``cores`` as a set, once it is known this process may run on each of them."""
    if cores is None:
        return None
    if not hasattr(os, "sched_setaffinity"):
        raise EngineConfigurationError(f"`cpu_cores` needs Linux's per-thread CPU masks: {_FIX}")
    wanted = frozenset(cores)
    try:
        with on_cores(wanted):
            pass
    except OSError as exc:
        raise EngineConfigurationError(
            f"`cpu_cores` {sorted(wanted)} cannot be used here ({exc.strerror}; this machine "
            f"has cores 0-{(os.cpu_count() or 1) - 1}): {_FIX}"
        ) from exc
    return wanted


@contextmanager
def on_cores(cores: frozenset[int] | None) -> Iterator[None]:
    """The block with the calling thread pinned to ``cores``, its own mask restored after;
    None leaves the thread as it is."""
    if cores is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
