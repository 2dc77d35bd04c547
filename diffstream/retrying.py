"""A batch's work retried with backoff while downstream is unavailable (a worker thread's)."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import TypeVar

from diffstream.exceptions import DownstreamUnavailableError, DroppedBatch

log = logging.getLogger(__name__)

Done = TypeVar("Done")


def retrying(
    work: Callable[[], Done],
    abort: threading.Event,
    *,
    role: str,
    initial_s: float,
    max_s: float,
    aborted: Callable[[], str],
) -> Done:
    """``work()``, again after a jittered, growing pause while it raises
    ``DownstreamUnavailableError``; ``DroppedBatch`` (saying ``aborted()``) once ``abort``
    is set."""
    delay = initial_s
    attempt = 0
    while True:
        if abort.is_set():
            raise DroppedBatch(aborted())
        attempt += 1
        try:
            return work()
        except DownstreamUnavailableError as error:
            pause = delay / 2 + random.uniform(0, delay / 2)  # jitter spreads the herd
            log.warning(
                "%s batch not done (attempt %d), retrying in %.1fs: %s",
                role,
                attempt,
                pause,
                error,
            )
            if abort.wait(pause):
                raise DroppedBatch("stopping during a retry") from error
            delay = min(delay * 2, max_s)
