"""One cycle's inference, on the worker thread: passes, retries, and failure isolation.

A failure belongs to the request that caused it. An error that names its request (an input
the model refuses) fails that request alone and the rest of the pass runs again without it;
any other error of a pass of several requests splits the pass into one pass per request, so
innocent neighbours complete and the poison one fails on its own attempts. A request that
was under way when an earlier worker died (a suspect) always runs alone, and each pass's
requests are recorded as attempts before it starts (see ``processors.ledger``); the first
pass's may be recorded ahead, when the cycle is prepared, so that a pipelined worker's model
call waits for no round trip to the broker.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from diffstream.exceptions import DroppedBatch
from processors.engine.drawn import DrawnTask
from processors.engine.results import StepProgress, TaskResult
from processors.exceptions import (
    InferenceError,
    InvalidTaskError,
    ModelCorruptError,
    ModelNotFoundError,
    ProcessorError,
    UnknownModelError,
)
from processors.intake import Admitted
from processors.ledger import Acks, RequestLedger
from processors.metrics import ProcessorMetrics
from processors.passes import plan_passes
from schemas.events import RequestState

if TYPE_CHECKING:
    from processors.engine.engine import InferenceEngine
    from processors.engine.registry import ModelLocator

log = logging.getLogger(__name__)


class PassFailure(NamedTuple):
    """A request whose pass failed: the last error and how many attempts were made."""

    error: ProcessorError
    attempts: int


Outcome = TaskResult | PassFailure
#: What a pass leaves for the encoder: a task's images as drawn, or its failure.
Drawn = DrawnTask | PassFailure
#: Reports one denoising step: (attempt, model, progress).
StepHook = Callable[[int, str, StepProgress], None]


class Candidate(NamedTuple):
    """An admitted request and the crashes it has survived so far."""

    admitted: Admitted
    crashes: int


class InferenceRun:
    """Runs the admitted requests of one cycle; ``abort`` stops it at the next step."""

    def __init__(
        self,
        engine: InferenceEngine,
        ledger: RequestLedger,
        metrics: ProcessorMetrics,
        *,
        max_attempts: int,
        max_batch_size: int,
        on_step: StepHook,
        locator: ModelLocator | None = None,
    ) -> None:
        self.engine = engine
        self.locator = locator
        self.ledger = ledger
        self.metrics = metrics
        self.max_attempts = max_attempts
        self.max_batch_size = max_batch_size
        self.on_step = on_step
        # Requests recorded ``processing`` and not yet released (for a drop).
        self.recorded: dict[str, Candidate] = {}
        self._passes: list[list[int]] | None = None
        self._ahead: Acks | None = None  # the first pass's records, when written ahead

    def record_ahead(self, candidates: Sequence[Candidate]) -> None:
        """Write the first pass's ``processing`` records now, without waiting for the broker:
        ``run`` then only waits for their acks, long in by the time a pipelined worker's
        batch before has left the accelerator. The caller decides when that is safe (see
        ``Decisions.safe_ahead``)."""
        passes = self._plan(candidates)
        if passes:
            first = [candidates[i] for i in passes[0]]
            self._ahead = self._record(first, RequestState.PROCESSING, wait=False)

    def run(self, candidates: Sequence[Candidate], abort: threading.Event) -> list[Drawn]:
        """One outcome per candidate, in order, not encoded yet."""
        outcomes: list[Drawn] = [PassFailure(InferenceError("not run"), 0)] * len(candidates)
        passes = self._plan(candidates)
        for number, indexes in enumerate(passes):
            group = [candidates[i] for i in indexes]
            if number == 0 and self._ahead is not None:
                self.ledger.wait(self._ahead)
            else:
                self._record(group, RequestState.PROCESSING)
            results = self._run_pass(group, abort)
            if number < len(passes) - 1:
                # Done with inference: a later pass that kills the worker is not on these.
                self._record(group, RequestState.QUEUED)
            for index, outcome in zip(indexes, results, strict=True):
                outcomes[index] = outcome
        return outcomes

    def _plan(self, candidates: Sequence[Candidate]) -> list[list[int]]:
        """Suspects alone first, then the others in passes the engine can batch (planned
        once per run, so that a pass recorded ahead is the pass that runs)."""
        if self._passes is None:
            suspects = [i for i, c in enumerate(candidates) if c.crashes > 0]
            others = [i for i, c in enumerate(candidates) if c.crashes == 0]
            tasks = [candidates[i].admitted.task for i in others]
            planned = plan_passes(tasks, self.max_batch_size)
            self._passes = [[i] for i in suspects] + [[others[j] for j in g] for g in planned]
        return self._passes

    def encode(self, drawn: Sequence[Drawn]) -> list[Outcome]:
        """Each drawn task's images encoded (all at once, on the engine's encode threads);
        a task whose encoding fails fails alone."""
        tasks = [entry for entry in drawn if isinstance(entry, DrawnTask)]
        encoded: Iterator[Outcome]
        try:
            encoded = iter(self.engine.encode(tasks))
        except Exception:  # find the task at fault: each on its own
            encoded = iter([self._encode_alone(task) for task in tasks])
        return [entry if isinstance(entry, PassFailure) else next(encoded) for entry in drawn]

    def _encode_alone(self, task: DrawnTask) -> Outcome:
        try:
            [result] = self.engine.encode([task])
        except Exception as error:  # an encoder bug must fail the request, not the worker
            return PassFailure(InferenceError(f"encoding: {type(error).__name__}: {error}"), 1)
        return result

    def release(self) -> None:
        """The cycle was given up, or its last pass is over while a later one may start (a
        pipelined worker's next batch): its attempts do not count as crashes."""
        if self.recorded:
            self._record(list(self.recorded.values()), RequestState.QUEUED)

    def _record(
        self, group: Sequence[Candidate], state: RequestState, *, wait: bool = True
    ) -> Acks:
        """Write ``state`` for ``group``; unless told not to, until the broker has it."""
        processing = state == RequestState.PROCESSING
        acks = self.ledger.record(
            (
                (c.admitted.request, c.admitted.source, c.crashes + 1 if processing else c.crashes)
                for c in group
            ),
            str(state),
        )
        for c in group:
            rid = c.admitted.task.request_id
            if processing:
                self.recorded[rid] = c
            else:
                self.recorded.pop(rid, None)
        if wait:
            self.ledger.wait(acks)
        return acks

    def _run_pass(self, group: list[Candidate], abort: threading.Event) -> list[Drawn]:
        tasks = [c.admitted.task for c in group]
        last: ProcessorError = InferenceError("no attempt was made")
        attempt = 0
        for attempt in range(1, self.max_attempts + 1):  # read after
            if abort.is_set():
                raise DroppedBatch("inference aborted")
            try:
                started = time.perf_counter()
                step = functools.partial(self.on_step, attempt, tasks[0].model)
                results = self.engine.draw(tasks, progress=step, locator=self.locator)
                self._observe(tasks, time.perf_counter() - started)
                return list(results)
            except DroppedBatch:
                raise
            except (ModelNotFoundError, UnknownModelError, ModelCorruptError) as error:
                # The pass shares one model revision: every request of it fails the same.
                log.warning("pass of %d failed: %s", len(tasks), error)
                return [PassFailure(error, attempt)] * len(tasks)
            except InvalidTaskError as error:
                named = [c.admitted.task.request_id == error.request_id for c in group]
                if len(tasks) > 1 and any(named):
                    return self._without(group, named, error, attempt, abort)
                return [PassFailure(error, attempt)] * len(tasks)
            except ProcessorError as error:
                last = error
            except Exception as error:  # a pipeline bug must fail the request, not the worker
                last = InferenceError(f"{type(error).__name__}: {error}")
            log.warning("pass of %d failed (attempt %d): %s", len(tasks), attempt, last)
            if len(tasks) > 1:
                # Isolate the poison request: each neighbour gets a pass and attempts of its own.
                return [outcome for c in group for outcome in self._run_pass([c], abort)]
            if not last.retryable:
                break
        return [PassFailure(last, attempt)] * len(tasks)

    def _without(
        self,
        group: list[Candidate],
        bad: list[bool],
        error: InvalidTaskError,
        attempt: int,
        abort: threading.Event,
    ) -> list[Drawn]:
        """The request ``error`` names fails alone; the others run as a pass again."""
        rest = self._run_pass([c for c, b in zip(group, bad, strict=True) if not b], abort)
        others = iter(rest)
        return [PassFailure(error, attempt) if b else next(others) for b in bad]

    def _observe(self, tasks: list[Any], seconds: float) -> None:
        images = sum(task.num_images for task in tasks)
        model = tasks[0].model
        self.metrics.batch_size.observe(images)
        self.metrics.inference_seconds.labels(model).observe(seconds)
        self.metrics.images.labels(model).inc(images)
