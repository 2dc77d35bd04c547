"""The one exactly-once loop: consume, work, produce, commit offsets in the transaction.

Every transactional role (the stream processor, the image sink) is a client of this loop
with hooks for what differs, the way Kafka Streams tasks share one runtime. One cycle:

1. gather a batch (the role's hook: lanes, windows), dropping what belongs to partitions
   revoked while gathering (one assigned back meanwhile reads from its commit again), and
   admit each message (the role decodes it; a transient failure defers its partition:
   rewound and paused for a while, the others flowing);
2. work on it off the polling thread (inference, PUTs) while the polling thread keeps the
   member in its group and carries what arrives to the next cycles (pausing only beyond
   ``CARRY_BATCHES``, as a pause drops librdkafka's prefetched queue); a downstream outage
   is retried with backoff;
3. produce the role's outputs and the batch's offsets in one transaction (KIP-447).

A role that splits its work (``StagedRole``) may keep two batches under way, the next one's
model call overlapping this one's encoding and commit (``diffstream.pipelined``).

A batch whose partitions are revoked while it runs, or whose transaction must abort, is
dropped and read again: nothing of it is visible to read_committed readers. A fenced or
otherwise fatal producer (a broker restart, a zombie) is not the end: the clients are closed
and made again under the same transactional id, and consumption resumes from the committed
offsets (Kafka Streams' close-dirty-and-rejoin). Work must therefore be idempotent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from typing import Generic, TypeVar

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from diffstream.consuming import (
    close_dirty,
    next_offsets,
    oldest_first,
    outside,
    partition_names,
    rewind,
    take_queued,
    usable,
    without_revoked,
)
from diffstream.deferrals import Deferrals
from diffstream.exceptions import DeferMessage, DroppedBatch, StuckClientError
from diffstream.kafka import make_consumer, make_producer
from diffstream.loop_contract import Admission, Batch, Key, LoopOptions, Output, Prepared, Role
from diffstream.pipelined import Pipeline
from diffstream.retrying import retrying
from diffstream.settings import Settings
from diffstream.transactions import Transactions

log = logging.getLogger(__name__)

IDLE_POLL_S = 0.1
# Read while a batch is being worked on: carried to the next cycles, up to this many batches:
# enough for a fetch of every partition (12 of ~7 requests each, see processors.lanes), so
# that the next batches are the oldest requests of all of them, not of the first few.
CARRY_BATCHES = 12
RECONNECT_INITIAL_S = 0.5
RECONNECT_MAX_S = 10.0
Done = TypeVar("Done")


class ExactlyOnceLoop(Generic[Prepared]):
    """Runs a role's cycles against one consumer and one transactional producer."""

    def __init__(self, settings: Settings, options: LoopOptions, role: Role[Prepared]) -> None:
        self.settings = settings
        self.options = options
        self.role = role
        self.cycles = 0
        self.recoveries = 0
        # Partitions taken away while running (leaving the group on close is not counted).
        self.revocations = 0
        self.consumer: Consumer | None = None
        self.producer: Producer | None = None
        # Read while a batch was worked on: the head of the next batches.
        self.carried: list[Message] = []
        self._previous_batch = 0  # messages in the last batch: evidence of load
        self._batch_partitions: set[Key] = set()
        self._revoked_since_gather: set[Key] = set()
        self._revoked_in_batch = False
        self._deferrals = Deferrals()
        # Set: the work of every batch under way stops at its next step (it is dropped).
        self.abort = threading.Event()
        self.pipeline: Pipeline[Prepared] | None = None
        self._stop_seen: float | None = None
        self._closing = False
        self._transactions = Transactions(options.role)

    # -- the loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Cycle until ``stop`` is set; the batch under way is committed or dropped."""
        worker = ThreadPoolExecutor(1, thread_name_prefix=f"{self.options.role}-work")
        options = self.options
        log.info("%s %s consuming %s", options.role, options.instance_id, ", ".join(options.topics))
        # Depth 2: the next batch's model call overlaps this one's finishing and commit.
        self.pipeline = pipeline = Pipeline(self) if self.options.pipeline_depth > 1 else None
        try:
            self._connect(stop)
            while not stop.is_set() or (pipeline is not None and pipeline.busy):
                try:
                    if pipeline is not None:
                        pipeline.cycle(stop)
                    else:
                        self._cycle(worker, stop)
                except (KafkaException, StuckClientError) as exc:
                    if stop.is_set():
                        break
                    self._recover(exc, stop)
        finally:
            self._closing = True
            self.abort.set()
            worker.shutdown(wait=True, cancel_futures=True)
            if pipeline is not None:
                pipeline.close()
            self._disconnect()
            log.info(
                "%s %s stopped after %d cycles (%d recoveries)",
                self.options.role,
                self.options.instance_id,
                self.cycles,
                self.recoveries,
            )

    def _recover(self, exc: KafkaException | StuckClientError, stop: threading.Event) -> None:
        """Close dirty and rejoin: new clients under the same transactional id, reading from
        the committed offsets; whatever was under way is read again."""
        self.recoveries += 1
        log.warning(
            "%s %s: %s; making new clients and resuming from the committed offsets",
            self.options.role,
            self.options.instance_id,
            exc.args[0] if exc.args else exc,
        )
        self.carried = []
        self._deferrals.clear()
        self._disconnect()
        self._connect(stop)

    def _connect(self, stop: threading.Event) -> None:
        """A consumer and a ready transactional producer; waits out an unreachable cluster."""
        delay = RECONNECT_INITIAL_S
        while not stop.is_set():
            producer = make_producer(self.settings, self.options.producer_config())
            try:
                producer.init_transactions(30)
            except KafkaException as exc:
                log.warning(
                    "%s: transactions not ready, retrying in %.1fs: %s",
                    self.options.role,
                    delay,
                    exc.args[0] if exc.args else exc,
                )
                stop.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            self.producer = producer
            break
        else:
            return
        self.consumer = make_consumer(self.settings, self.options.consumer_config())
        self.consumer.subscribe(
            self.options.topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )

    def _disconnect(self) -> None:
        close_dirty(self.consumer, self.producer)
        self.consumer = None
        self.producer = None

    # -- rebalances -----------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.debug("assigned %s", partition_names(partitions))
        # librdkafka keeps a pause across a revoke and a new assignment: a partition paused
        # when lost (carrying, a forgotten deferral) came back paused, and nothing resumed
        # it. What the role holds while a batch is under way it resumes itself.
        held = self.role.held_while_working(partitions) if self._batch_partitions else []
        held_keys = {(tp.topic, tp.partition) for tp in held}
        free = [tp for tp in partitions if (tp.topic, tp.partition) not in held_keys]
        if free:
            consumer.resume(free)
        self.role.assigned(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if not self._closing:
            self.revocations += 1
        lost = {(tp.topic, tp.partition) for tp in partitions}
        self.carried = outside(self.carried, partitions)
        self._revoked_since_gather |= lost
        self._deferrals.forget(lost)
        if lost & self._batch_partitions:
            # The batch's offsets can no longer be committed by us: drop its output.
            self._revoked_in_batch = True
            self.abort.set()
        log.debug("revoked %s", partition_names(partitions))

    # -- gathering ------------------------------------------------------------------------

    def take_carried(self, room: int) -> list[Message]:
        """Up to ``room`` of the messages carried from the previous cycles, oldest first."""
        taken, self.carried = oldest_first(self.carried, room)
        return taken

    def take_queued(self, room: int, *, busy: bool = False) -> list[Message]:
        """Whatever is queued already, then (under load) what arrives within the window."""
        assert self.consumer is not None
        wait_s = self.options.max_batch_wait_ms / 1000
        busy = busy or self._previous_batch > 1
        return [m for m in take_queued(self.consumer, room, wait_s, busy=busy) if usable(m)]

    def fill(self, wait_s: float = IDLE_POLL_S) -> list[Message]:
        """The plain batch: what was carried, else what a poll brings, then what is queued."""
        assert self.consumer is not None
        room = self.options.max_batch_size
        batch = self.take_carried(room)
        if batch:
            return batch + self.take_queued(room - len(batch), busy=True)
        first = self.consumer.poll(wait_s)
        if first is None:
            return []
        batch = [first] if usable(first) else []
        return batch + self.take_queued(room - len(batch))

    def pause(self, partitions: list[TopicPartition]) -> None:
        """Pause ``partitions`` (no-op when empty)."""
        if partitions and self.consumer is not None:
            self.consumer.pause(partitions)

    def resume(self, partitions: list[TopicPartition]) -> None:
        """Resume ``partitions``, except those deferred for a while."""
        wanted = [tp for tp in partitions if (tp.topic, tp.partition) not in self._deferrals]
        if wanted and self.consumer is not None:
            self.consumer.resume(wanted)

    def _admit(self, messages: list[Message]) -> list[Admission]:
        """Each message through the role's ``admit``; a deferred one cuts its partition."""
        assert self.consumer is not None
        admitted: list[Admission] = []
        cut: set[Key] = set()
        for message in messages:
            key = (message.topic() or "", message.partition() or 0)
            if key in cut:
                continue
            try:
                admitted.append(Admission(message, self.role.admit(message)))
            except DeferMessage as defer:
                cut.add(key)
                self.carried = outside(self.carried, [TopicPartition(*key)])
                self._deferrals.defer(self.consumer, message, defer)
        return admitted

    # -- one cycle ------------------------------------------------------------------------

    def _cycle(self, worker: ThreadPoolExecutor, stop: threading.Event) -> None:
        batch = self.begin_batch()
        if batch is None:
            return
        paused: list[TopicPartition] = []
        try:
            future = worker.submit(self.retrying, self.role.work, batch.prepared)
            outputs = self.keep_alive(future, batch.carrying, paused, stop)
            self.check_owned()
            self._commit(batch.messages, outputs)
        except DroppedBatch as reason:
            self.drop([batch], reason)
        except BaseException:
            self.role.dropped(batch.prepared, "clients failed")
            raise
        else:
            self.role.committed(batch.prepared, outputs)
        finally:
            # Only when paused: resuming drops the prefetched queue, to be fetched again.
            if paused and self.consumer is not None:
                self.resume(paused)
            self.under_way([])

    def begin_batch(self) -> Batch[Prepared] | None:
        """Gather, admit and prepare the next batch (None: nothing to do); pauses what the
        role holds while it is worked on. Polling thread."""
        assert self.consumer is not None
        self.resume(self._deferrals.take_due())
        self._revoked_since_gather = set()
        messages = self.role.gather(self)
        if self._revoked_since_gather:
            messages = without_revoked(self.consumer, messages, self._revoked_since_gather)
        if not messages:
            return None
        self._previous_batch = len(messages)
        self.cycles += 1
        admitted = self._admit(messages)
        messages = [item.message for item in admitted]
        if not messages:
            return None
        if not self._batch_partitions:  # the first batch under way: a fresh start
            self._revoked_in_batch = False
            self.abort.clear()
        self._batch_partitions |= {(m.topic() or "", m.partition() or 0) for m in messages}
        assignment = self.consumer.assignment()
        held = self.role.held_while_working(assignment)
        self.pause(held)
        held_keys = {(tp.topic, tp.partition) for tp in held}
        carrying = [tp for tp in assignment if (tp.topic, tp.partition) not in held_keys]
        # Last: once prepared, the batch is the role's until committed or dropped.
        return Batch(self.cycles, messages, self.role.prepare(admitted), carrying)

    def under_way(self, batches: Sequence[Batch[Prepared]]) -> None:
        """The batches under way now: a revoke of any of their partitions drops them."""
        self._batch_partitions = {
            (m.topic() or "", m.partition() or 0) for batch in batches for m in batch.messages
        }

    def check_owned(self) -> None:
        """``DroppedBatch`` if a partition of a batch under way was revoked."""
        assert self.consumer is not None
        owned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        if self._revoked_in_batch or not self._batch_partitions <= owned:
            raise DroppedBatch("partitions revoked while working")

    def drop(self, batches: Sequence[Batch[Prepared]], reason: BaseException | str) -> None:
        """Give ``batches`` up: read them (and what was carried) again from their start."""
        assert self.consumer is not None
        messages = [m for batch in batches for m in batch.messages]
        log.warning("batch of %d dropped: %s", len(messages), reason)
        rewind(self.consumer, [*messages, *self.carried])
        self.carried = []
        for batch in batches:
            self.role.dropped(batch.prepared, str(reason))

    def keep_alive(
        self,
        future: Future[Done],
        carrying: list[TopicPartition],
        paused: list[TopicPartition],
        stop: threading.Event,
        on_tick: Callable[[], None] | None = None,
    ) -> Done:
        """Wait for ``future`` on the polling thread, keeping the member alive however long
        it takes (max.poll.interval.ms) and carrying what arrives to the next batches;
        ``on_tick`` after each read. Past the shutdown grace, a stop aborts the work."""
        assert self.consumer is not None
        limit = CARRY_BATCHES * self.options.max_batch_size
        # Woken by the end of the work, not by a poll's timeout (latency).
        while True:
            if on_tick is not None:
                on_tick()
            if futures_wait([future], timeout=IDLE_POLL_S).done:
                break
            room = max(1, limit - len(self.carried))
            self.carried += [m for m in self.consumer.consume(room, 0) if usable(m)]
            if len(self.carried) >= limit and not paused:
                # Pausing drops the prefetched queue: only with several batches in hand.
                self.pause(carrying)
                paused += carrying
            if stop.is_set():
                self._stop_seen = self._stop_seen or time.monotonic()
                if time.monotonic() - self._stop_seen >= self.options.shutdown_grace_s:
                    self.abort.set()
        return future.result()

    def retrying(self, work: Callable[[Prepared, threading.Event], Done], batch: Prepared) -> Done:
        """Worker thread: a part of the work, retried with backoff while downstream is down."""
        options = self.options
        return retrying(
            lambda: work(batch, self.abort),
            self.abort,
            role=options.role,
            initial_s=options.retry_initial_s,
            max_s=options.retry_max_s,
            aborted=lambda: "partitions revoked" if self._revoked_in_batch else "stopping",
        )

    def _commit(self, messages: Sequence[Message], outputs: Sequence[Output]) -> None:
        """Outputs and the batch's offsets in one transaction."""
        self.commit(outputs, next_offsets(messages))

    def commit(self, outputs: Sequence[Output], offsets: list[TopicPartition]) -> None:
        """``outputs`` and ``offsets`` (of partitions this member owns) in one transaction.
        An abortable failure raises ``DroppedBatch``; a fatal one (fenced, broken producer)
        propagates, and the loop recovers. Polling thread."""
        assert self.consumer is not None
        assert self.producer is not None
        self._transactions.commit(self.producer, self.consumer, outputs, offsets)
