"""Two batches under way: the next batch's model call overlaps this one's finishing and commit.

With ``pipeline_depth`` 2 and a role that splits its work (``StagedRole``), the exactly-once
loop runs its cycles through this. A batch's accelerator stage (the model call) runs on one
thread, in batch order; its finishing stage (encoding, building the outputs) on another; its
transaction on the polling thread, as before. So while batch N is finished and committed,
batch N+1 has been gathered, admitted and prepared, and its model call starts the moment N's
ends. The rules:

- at most two batches under way; a next batch starts early only from messages already
  carried (evidence of load): a full batch of them while the model runs, any once it is done,
  so a lone request is neither split from its company nor kept waiting;
- transactions commit strictly in order, one per batch, each with its own offsets only;
- any drop (an abortable transaction, a revoke of a partition of either batch, a stop past
  its grace) drops every batch under way, once their stages have ended, and rewinds to the
  earliest uncommitted offset: nothing of them becomes visible to read_committed readers;
- failed clients (fenced, fatal) give every batch up and the loop recovers, as with one.

Each stage's start and end is kept in ``events`` (bounded), for tests and the bench.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from typing import Generic, NamedTuple

from confluent_kafka import TopicPartition

from diffstream.consuming import next_offsets
from diffstream.exceptions import DroppedBatch
from diffstream.loop_contract import Batch, Loop, Output, Prepared, StagedRole

DEPTH = 2
KEPT_EVENTS = 4096
# Names of the recorded events, in a batch's order.
SUBMITTED, ACCELERATING, ACCELERATED, FINISHED, COMMITTED, DROPPED = (
    "submitted",
    "accelerating",
    "accelerated",
    "finished",
    "committed",
    "dropped",
)


class StageEvent(NamedTuple):
    """One step of one batch: which, the batch's number, perf_counter when it happened."""

    name: str
    batch: int
    at: float


@dataclass
class Flight(Generic[Prepared]):
    """A batch under way and its stages' futures."""

    batch: Batch[Prepared]
    accelerating: Future[None]
    finishing: Future[list[Output]] | None = None


class Pipeline(Generic[Prepared]):
    """Runs a staged role's batches two at a time for one ``ExactlyOnceLoop``."""

    def __init__(self, loop: Loop[Prepared]) -> None:
        if not isinstance(loop.role, StagedRole):
            raise TypeError(
                f"pipeline_depth {loop.options.pipeline_depth} needs a role with accelerate() "
                f"and finish(); {type(loop.role).__name__} has none: set pipeline_depth to 1"
            )
        self.loop = loop
        self.role: StagedRole[Prepared] = loop.role
        name = loop.options.role
        self._accelerator = ThreadPoolExecutor(1, thread_name_prefix=f"{name}-accelerator")
        self._finisher = ThreadPoolExecutor(1, thread_name_prefix=f"{name}-finish")
        self.in_flight: deque[Flight[Prepared]] = deque()
        self.events: deque[StageEvent] = deque(maxlen=KEPT_EVENTS)
        self._lock = threading.Lock()  # events are noted from three threads

    @property
    def busy(self) -> bool:
        """Whether a batch is under way."""
        return bool(self.in_flight)

    def cycle(self, stop: threading.Event) -> None:
        """See the oldest batch through (its stages, then its transaction), starting the
        next one meanwhile; with none under way, start one first. Polling thread."""
        if not self.in_flight and (stop.is_set() or not self._start()):
            return
        loop, head = self.loop, self.in_flight[0]
        paused: list[TopicPartition] = []

        def tick() -> None:
            self._maybe_start(stop, head)

        try:
            loop.keep_alive(head.accelerating, head.batch.carrying, paused, stop, tick)
            head.finishing = self._finisher.submit(self._finish, head.batch)
            outputs = loop.keep_alive(head.finishing, head.batch.carrying, paused, stop, tick)
            loop.check_owned()
            loop.commit(outputs, next_offsets(head.batch.messages))
        except DroppedBatch as reason:
            self._drop_all(reason)
        except BaseException:
            self._give_up_all("clients failed")
            raise
        else:
            self.in_flight.popleft()
            self._note(COMMITTED, head.batch.number)
            loop.under_way([flight.batch for flight in self.in_flight])
            self.role.committed(head.batch.prepared, outputs)
        finally:
            # Only when paused: resuming drops the prefetched queue, to be fetched again.
            if paused and loop.consumer is not None:
                loop.resume(paused)

    def close(self) -> None:
        """Give up what is still under way (the loop is stopping) and end the threads."""
        self._give_up_all("stopping")
        self._accelerator.shutdown(wait=True, cancel_futures=True)
        self._finisher.shutdown(wait=True, cancel_futures=True)

    # -- starting a batch (polling thread) --------------------------------------------------

    def _maybe_start(self, stop: threading.Event, head: Flight[Prepared]) -> None:
        loop = self.loop
        if stop.is_set() or len(self.in_flight) >= DEPTH or loop.abort.is_set():
            return
        carried = len(loop.carried)
        if carried >= loop.options.max_batch_size or (carried and head.accelerating.done()):
            self._start()

    def _start(self) -> bool:
        batch = self.loop.begin_batch()
        if batch is None:
            return False
        self._note(SUBMITTED, batch.number)
        self.in_flight.append(Flight(batch, self._accelerator.submit(self._accelerate, batch)))
        return True

    # -- the stages (their threads) ---------------------------------------------------------

    def _accelerate(self, batch: Batch[Prepared]) -> None:
        self._note(ACCELERATING, batch.number)
        self.loop.retrying(self.role.accelerate, batch.prepared)
        self._note(ACCELERATED, batch.number)

    def _finish(self, batch: Batch[Prepared]) -> list[Output]:
        outputs = self.loop.retrying(self.role.finish, batch.prepared)
        self._note(FINISHED, batch.number)
        return outputs

    # -- dropping (polling thread) ----------------------------------------------------------

    def _drop_all(self, reason: BaseException) -> None:
        """Every batch under way dropped and read again from the earliest uncommitted offset."""
        self._end_stages()
        batches = [flight.batch for flight in self.in_flight]
        self.in_flight.clear()
        self.loop.under_way([])
        self.loop.drop(batches, reason)
        for batch in batches:
            self._note(DROPPED, batch.number)

    def _give_up_all(self, reason: str) -> None:
        self._end_stages()
        batches = [flight.batch for flight in self.in_flight]
        self.in_flight.clear()
        self.loop.under_way([])
        for batch in batches:
            self.role.dropped(batch.prepared, reason)
            self._note(DROPPED, batch.number)

    def _end_stages(self) -> None:
        """Abort the stages under way and wait for them to end (a role's ``dropped`` must
        not run beside its own work)."""
        if not self.in_flight:
            return
        self.loop.abort.set()
        futures_wait([flight.accelerating for flight in self.in_flight])
        futures_wait([f.finishing for f in self.in_flight if f.finishing is not None])

    def _note(self, name: str, batch: int) -> None:
        with self._lock:
            self.events.append(StageEvent(name, batch, time.perf_counter()))
