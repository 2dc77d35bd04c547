"""Roles (a processor, a sink, a notifier) each on a thread of the test, for a block."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# A role's ``run``: it returns once the event is set.
Run = Callable[[threading.Event], object]


@contextmanager
def on_threads(*runs: Run, join_s: float = 60.0) -> Iterator[list[threading.Thread]]:
    """Each of ``runs`` on a daemon thread of its own while the block runs; then all told to
    stop and each joined for up to ``join_s``. The threads come back so that a test can
    check whether they are alive."""
    stop = threading.Event()
    threads = [threading.Thread(target=run, args=(stop,), daemon=True) for run in runs]
    for thread in threads:
        thread.start()
    try:
        yield threads
    finally:
        stop.set()
        for thread in threads:
            thread.join(join_s)
