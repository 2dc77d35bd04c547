"""The engine's load on a thread of its own, so that a starting processor imports torch and
diffusers, pulls, loads and warms up its models while its consumer joins the group: start
to ready is the longer of the two, not their sum.

Nothing waits on the thread but the work: a batch gathered before the models are loaded
waits for them before any attempt is recorded (``wait``), as behind a long batch, so its
exactly-once handling is that of any other batch. A load that fails stops the processor,
which then raises the load's error; the batches waiting are dropped and read again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from diffstream.exceptions import DroppedBatch

if TYPE_CHECKING:
    from processors.engine.engine import InferenceEngine
    from processors.engine.registry import ModelLocator

log = logging.getLogger(__name__)

# How often a waiting batch looks at its abort flag.
ABORT_CHECK_S = 0.1


class EngineLoad:
    """One ``engine.load(locator)`` under way on a daemon thread (``start``)."""

    def __init__(
        self,
        engine: InferenceEngine,
        locator: ModelLocator | None,
        *,
        before: Callable[[], object] | None = None,
        on_loaded: Callable[[float], None],
        on_failed: Callable[[BaseException], None],
    ) -> None:
        self._engine = engine
        self._locator = locator
        self._before = before
        self._on_loaded = on_loaded
        self._on_failed = on_failed
        self._done = threading.Event()
        self._lock = threading.Lock()  # orders the load's end against the consumer's join
        self._when_ready: Callable[[], None] | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._load, name="engine-load", daemon=True)

    @property
    def loaded(self) -> bool:
        """Whether the load has finished without an error."""
        return self._done.is_set() and self.error is None

    def start(self) -> EngineLoad:
        """Begin loading; returns at once."""
        self._thread.start()
        return self

    def when_joined(self, ready: Callable[[], None]) -> None:
        """The consumer has joined: ``ready`` now if the load has finished well, else when it
        does (a failed load never calls it)."""
        with self._lock:
            self._when_ready = ready
            if self.loaded:
                ready()

    def wait(self, abort: threading.Event) -> None:
        """Until the engine is loaded; ``DroppedBatch`` when ``abort`` is set first or the load
        failed (the batch is read again, by this worker or another)."""
        while not self._done.wait(ABORT_CHECK_S):
            if abort.is_set():
                raise DroppedBatch("stopped before the engine was loaded")
        if self.error is not None:
            raise DroppedBatch(f"the engine failed to load: {self.error}")

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            if self._before is not None:
                self._before()
            self._engine.load(self._locator)
        except BaseException as exc:  # handed to the processor, which raises it
            self.error = exc
            log.error("the engine failed to load: %s", exc)
            self._on_failed(exc)  # first: the processor is stopping when the batches see it
            self._done.set()
            return
        seconds = time.perf_counter() - started
        log.info("engine ready in %.1fs", seconds)
        self._on_loaded(seconds)
        with self._lock:
            self._done.set()
            if self._when_ready is not None:
                self._when_ready()
