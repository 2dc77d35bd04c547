"""A call given a deadline, run on a daemon thread of its own.

A call that never returns (a librdkafka client stuck on a coordinator that went away) is
left behind on its thread. The thread is a daemon so that it cannot hold the process open
at exit: a ``ThreadPoolExecutor``'s workers are joined when the interpreter exits, and one
stuck worker kept a role (and a whole test session) from ever exiting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")


def call_within(call: Callable[[], T], timeout_s: float, name: str) -> T:
    """``call()``'s result or exception; ``TimeoutError`` when it outlives ``timeout_s``
    (it keeps running, abandoned, on its daemon thread)."""
    outcome: Future[T] = Future()

    def run() -> None:
        try:
            outcome.set_result(call())
        except BaseException as exc:  # handed to the caller, whatever it is
            outcome.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return outcome.result(timeout_s)
