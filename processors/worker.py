"""`diffstream process`: consume requests, run micro-batched inference, write results exactly once.

One cycle: gather up to ``max_batch_size`` requests (the interactive lane first; the backfill
lane only while the interactive lane is idle, one batch at a time), pause the backfill lane,
run inference on a worker thread while the polling thread keeps the group membership alive
(and carries interactive requests that arrive to the next cycles), then write results,
failures, status changes and dead letters together with the consumed offsets in one Kafka
transaction (KIP-447). A crash anywhere before the commit leaves no visible output and the
offsets uncommitted, so the next owner of the partitions redoes the cycle; read_committed
readers never see the aborted attempt.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from prometheus_client import CollectorRegistry

from diffstream.consuming import (
    next_offsets,
    outside,
    partition_names,
    rewind,
    take_queued,
    usable,
)
from diffstream.kafka import make_consumer, make_producer
from diffstream.settings import Settings
from processors.cancellations import CancellationView
from processors.engine.results import StepProgress, TaskResult
from processors.exceptions import InferenceError, ModelNotFoundError, ProcessorError
from processors.intake import Admitted, Intake, Refused, Undecodable, admit, coordinates
from processors.metrics import ProcessorMetrics
from processors.outcomes import inference_failed, result_record, status_record
from processors.passes import plan_passes
from processors.progress import ProgressReporter
from schemas.codec import Codec
from schemas.dlq import dead_letter_headers
from schemas.events import EventName, RequestState
from schemas.topics import (
    DLQ,
    FAILED,
    REQUESTS,
    REQUESTS_BATCH,
    RESULTS,
    RESULTS_MAX_MESSAGE_BYTES,
    STATUS,
)

if TYPE_CHECKING:
    from processors.engine.engine import InferenceEngine

log = logging.getLogger(__name__)

IDLE_POLL_S = 0.1
# A resumed partition joins the next fetch request, which waits for the one in flight: keep
# the broker's long-poll short, and give a resumed backfill lane time for that round trip,
# and for looking up its committed offsets when the coordinator is slow (a broker that just
# started): pausing again too soon starts that over, and the lane starves. Interactive
# requests still return at once: their partitions are not paused meanwhile.
FETCH_WAIT_MAX_MS = 50
BACKFILL_POLL_S = 2.0
# Interactive requests read during inference are carried to the next cycles, up to this
# many batches; then the lane is paused until the cycle ends.
CARRY_BATCHES = 4
CANCELLATIONS_CATCH_UP_S = 10.0


class PassFailure(NamedTuple):
    """A request whose pass failed: the last error and how many attempts were made."""

    error: ProcessorError
    attempts: int


Outcome = TaskResult | PassFailure


class CycleAborted(Exception):  # noqa: N818  # control flow, never leaves this module
    """The cycle's output must not be written (partitions revoked, or shutting down)."""


class StreamProcessor:
    """One worker of the processors' consumer group."""

    def __init__(
        self,
        settings: Settings,
        engine: InferenceEngine,
        *,
        registry: CollectorRegistry | None = None,
        codec: Codec | None = None,
    ) -> None:
        self.settings = settings
        self.config = settings.processor
        self.engine = engine
        self.codec = codec or Codec(settings)
        self.metrics = ProcessorMetrics.create(registry or CollectorRegistry())
        self.instance_id = self.config.instance_id or f"{socket.gethostname()}-{os.getpid()}"
        self.interactive_topic = settings.topic(REQUESTS)
        self.batch_topic = settings.topic(REQUESTS_BATCH)
        self.cycles = 0
        # Partitions taken away while running (leaving the group on close is not counted).
        self.revocations = 0
        self._closing = False
        self._cycle_partitions: set[tuple[str, int]] = set()
        # Interactive requests read while the previous batch was running: the next cycle's
        # head, so that an urgent request does not wait for a refetch after a batch.
        self._carried: list[Message] = []
        self._previous_batch = 0  # requests in the last cycle: evidence of load
        self._interactive_paused = False
        self._progress: ProgressReporter | None = None
        self._revoked_in_cycle = False
        self._abort_inference = threading.Event()
        self._last_lag_check = 0.0

    # -- the loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Process until ``stop`` is set; the cycle under way finishes or is aborted."""
        consumer = make_consumer(self.settings, self._consumer_config())
        producer = make_producer(self.settings, self._producer_config())
        producer.init_transactions(30)
        interval_ms = self.config.progress_interval_ms
        if interval_ms > 0:
            self._progress = ProgressReporter(self.settings, self.codec, interval_ms)
        cancellations = CancellationView(self.settings, self.codec)
        cancellations.start()
        cancellations.caught_up.wait(CANCELLATIONS_CATCH_UP_S)
        consumer.subscribe(
            [self.interactive_topic, self.batch_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        inference = ThreadPoolExecutor(1, thread_name_prefix="inference")
        log.info("processor %s consuming %s", self.instance_id, self.interactive_topic)
        try:
            while not stop.is_set():
                self._cycle(consumer, producer, inference, cancellations.is_cancelled, stop)
        finally:
            self._closing = True
            self._abort_inference.set()
            inference.shutdown(wait=True, cancel_futures=True)
            cancellations.stop()
            consumer.close()
            producer.flush(10)
            if self._progress is not None:
                self._progress.close()
            log.info("processor %s stopped after %d cycles", self.instance_id, self.cycles)

    def _consumer_config(self) -> dict[str, str | int | float | bool]:
        config: dict[str, str | int | float | bool] = {
            "group.id": self.config.group_id,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": self.config.session_timeout_ms,
            "max.poll.interval.ms": self.config.max_poll_interval_ms,
            "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
            "client.id": f"diffstream-processor-{self.instance_id}",
        }
        if self.config.static_membership:
            config["group.instance.id"] = self.instance_id
        return config

    def _producer_config(self) -> dict[str, str | int | float | bool]:
        return {
            # Stable across restarts: init_transactions aborts what a killed life left open.
            "transactional.id": f"diffstream-processor-{self.instance_id}",
            "transaction.timeout.ms": self.config.transaction_timeout_ms,
            "message.max.bytes": RESULTS_MAX_MESSAGE_BYTES,
            "linger.ms": 2,
            "client.id": f"diffstream-processor-{self.instance_id}",
        }

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.debug("assigned %s", partition_names(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if not self._closing:
            self.revocations += 1
        self._carried = outside(self._carried, partitions)
        if {(tp.topic, tp.partition) for tp in partitions} & self._cycle_partitions:
            # The cycle's offsets can no longer be committed by us: drop its output.
            self._revoked_in_cycle = True
            self._abort_inference.set()
        log.debug("revoked %s", partition_names(partitions))

    # -- one cycle ------------------------------------------------------------------------

    def _cycle(
        self,
        consumer: Consumer,
        producer: Producer,
        inference: ThreadPoolExecutor,
        is_cancelled: Callable[[str], bool],
        stop: threading.Event,
    ) -> None:
        messages = self._gather(consumer, stop)
        if messages:
            self._previous_batch = len(messages)
        self._report_lag(consumer)
        if not messages:
            return
        self.cycles += 1
        self._cycle_partitions = {(m.topic() or "", m.partition() or 0) for m in messages}
        self._revoked_in_cycle = False
        self._abort_inference.clear()
        intake = [
            admit(m, codec=self.codec, limits=self.settings.limits, is_cancelled=is_cancelled)
            for m in messages
        ]
        admitted = [item for item in intake if isinstance(item, Admitted)]
        assignment = consumer.assignment()
        interactive = [tp for tp in assignment if tp.topic == self.interactive_topic]
        consumer.pause([tp for tp in assignment if tp.topic != self.interactive_topic])
        self._interactive_paused = False
        try:
            inference_started = datetime.now(UTC)
            outcomes = self._infer_off_thread(consumer, inference, admitted, interactive, stop)
            if self._revoked_in_cycle:
                raise CycleAborted("partitions revoked during inference")
            self._commit(consumer, producer, messages, intake, outcomes, started=inference_started)
        except CycleAborted as reason:
            log.warning("cycle of %d requests dropped: %s", len(messages), reason)
            rewind(consumer, [*messages, *self._carried])
            self._carried = []
        finally:
            # Only when paused: resuming drops the prefetched queue too, and the next cycle
            # would wait for the partitions to be fetched again.
            if self._interactive_paused:
                consumer.resume(interactive)

    def _gather(self, consumer: Consumer, stop: threading.Event) -> list[Message]:
        """Up to ``max_batch_size`` requests: the interactive lane if it has any, otherwise
        one batch from the backfill lane (which stays paused while interactive work waits)."""
        assignment = consumer.assignment()
        backfill = [tp for tp in assignment if tp.topic == self.batch_topic]
        if backfill:
            consumer.pause(backfill)
        room = self.config.max_batch_size
        carried, self._carried = self._carried[:room], self._carried[room:]
        if carried:
            return carried + self._take_queued(consumer, room - len(carried), busy=True)
        messages = self._fill(consumer, stop)
        if messages or not backfill or stop.is_set():
            return messages
        consumer.resume(backfill)
        try:
            return self._fill(consumer, stop, wait_s=BACKFILL_POLL_S)
        finally:
            # Pausing drops what was prefetched; the position stays after what we took.
            consumer.pause(backfill)

    def _fill(
        self, consumer: Consumer, stop: threading.Event, wait_s: float = IDLE_POLL_S
    ) -> list[Message]:
        first = consumer.poll(wait_s)
        if first is None or stop.is_set():
            return [first] if first is not None and usable(first) else []
        batch = [first] if usable(first) else []
        return batch + self._take_queued(consumer, self.config.max_batch_size - len(batch))

    def _take_queued(self, consumer: Consumer, room: int, *, busy: bool = False) -> list[Message]:
        """Whatever is already queued, then (under load) what arrives within the window."""
        wait_s = self.config.max_batch_wait_ms / 1000
        busy = busy or self._previous_batch > 1
        return [m for m in take_queued(consumer, room, wait_s, busy=busy) if usable(m)]

    def _infer_off_thread(
        self,
        consumer: Consumer,
        inference: ThreadPoolExecutor,
        admitted: Sequence[Admitted],
        interactive: list[TopicPartition],
        stop: threading.Event,
    ) -> list[Outcome]:
        future: Future[list[Outcome]] = inference.submit(self._infer, admitted)
        stop_seen: float | None = None
        # Woken by the end of inference, not by the next poll's timeout: that would add up to
        # IDLE_POLL_S to every request's latency.
        limit = CARRY_BATCHES * self.config.max_batch_size
        while not futures_wait([future], timeout=IDLE_POLL_S).done:
            # Keeps the member alive however long inference takes (max.poll.interval.ms),
            # and reads interactive requests that arrive meanwhile, for the next cycles.
            room = max(1, limit - len(self._carried))
            self._carried += [m for m in consumer.consume(room, 0) if usable(m)]
            if len(self._carried) >= limit:
                # Pausing drops the prefetched queue (it is fetched again on resume): only
                # when enough is carried for several cycles.
                consumer.pause(interactive)
                self._interactive_paused = True
            if stop.is_set():
                stop_seen = stop_seen or time.monotonic()
                if time.monotonic() - stop_seen > self.config.shutdown_grace_s:
                    self._abort_inference.set()
        outcomes = future.result()
        if any(isinstance(o, PassFailure) and isinstance(o.error, _Aborted) for o in outcomes):
            raise CycleAborted("shutting down" if stop.is_set() else "partitions revoked")
        return outcomes

    def _infer(self, admitted: Sequence[Admitted]) -> list[Outcome]:
        """Runs on the inference thread: every pass of the cycle, with bounded retries."""
        outcomes: list[Outcome] = [PassFailure(InferenceError("not run"), 0) for _ in admitted]
        tasks = [item.task for item in admitted]
        for indexes in plan_passes(tasks, self.config.max_batch_size):
            outcomes_of_pass = self._run_pass([tasks[i] for i in indexes])
            for index, outcome in zip(indexes, outcomes_of_pass, strict=True):
                outcomes[index] = outcome
        return outcomes

    def _run_pass(self, tasks: list[Any]) -> list[Outcome]:
        last: ProcessorError = InferenceError("no attempt was made")
        attempt = 0
        for attempt in range(1, self.config.max_attempts + 1):  # read after
            if self._abort_inference.is_set():
                return [PassFailure(_Aborted("inference aborted"), attempt)] * len(tasks)
            try:
                started = time.perf_counter()
                results = self.engine.generate(
                    tasks, progress=functools.partial(self._on_step, attempt, tasks[0].model)
                )
                self._observe(tasks, results, time.perf_counter() - started)
                return list(results)
            except _Aborted as aborted:
                return [PassFailure(aborted, attempt)] * len(tasks)
            except ModelNotFoundError as error:
                return [PassFailure(error, attempt)] * len(tasks)
            except ProcessorError as error:
                last = error
            except Exception as error:  # a pipeline bug must fail the request, not the worker
                last = InferenceError(f"{type(error).__name__}: {error}")
            log.warning("pass of %d failed (attempt %d): %s", len(tasks), attempt, last)
            if not last.retryable:
                break
            if len(tasks) > 1:
                # Isolate a poison request: its neighbours get their own passes and attempts.
                return [outcome for task in tasks for outcome in self._run_pass([task])]
        return [PassFailure(last, attempt)] * len(tasks)

    def _on_step(self, attempt: int, model: str, progress: StepProgress) -> None:
        if self._abort_inference.is_set():
            raise _Aborted(f"aborted at step {progress.step}/{progress.steps}")
        if self._progress is not None:
            self._progress.report(progress, attempt=attempt, model=model)

    def _observe(self, tasks: list[Any], results: Sequence[TaskResult], seconds: float) -> None:
        images = sum(task.num_images for task in tasks)
        model = tasks[0].model
        self.metrics.batch_size.observe(images)
        self.metrics.inference_seconds.labels(model).observe(seconds)
        self.metrics.images.labels(model).inc(images)

    # -- writing the outcome --------------------------------------------------------------

    def _commit(
        self,
        consumer: Consumer,
        producer: Producer,
        messages: Sequence[Message],
        intake: Sequence[Intake],
        outcomes: Sequence[Outcome],
        *,
        started: datetime,
    ) -> None:
        try:
            producer.begin_transaction()
            results = iter(outcomes)
            for item in intake:
                if isinstance(item, Admitted):
                    self._write_admitted(producer, item, next(results), started)
                elif isinstance(item, Refused):
                    self._write_failed(producer, item.request, item.failed, item.state, item)
                else:
                    self._write_dead_letter(producer, item)
            producer.send_offsets_to_transaction(
                next_offsets(messages), consumer.consumer_group_metadata(), 30
            )
            producer.commit_transaction(60)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.fatal():
                raise  # this producer is fenced or broken: the process must restart
            log.warning("transaction failed, aborting: %s", error)
            producer.abort_transaction(30)
            raise CycleAborted(str(error)) from exc

    def _write_admitted(
        self,
        producer: Producer,
        item: Admitted,
        outcome: Outcome,
        started: datetime,
    ) -> None:
        request, key = item.request, str(item.request["request_id"]).encode()
        lane = "batch" if item.message.topic() == self.batch_topic else "interactive"
        queued = (started - request["submitted_at"]).total_seconds()
        self.metrics.queue_wait_seconds.labels(lane).observe(max(queued, 0.0))
        if isinstance(outcome, PassFailure):
            failed = inference_failed(
                request, outcome.error, source=item.source, attempt=max(outcome.attempts, 1)
            )
            self._write_failed(producer, request, failed, RequestState.FAILED, item)
            return
        record = result_record(
            request, outcome, source=item.source, attempt=1, inference_started=started
        )
        producer.produce(
            self.settings.topic(RESULTS),
            self.codec.encode(EventName.RESULT, record),
            key,
            headers=self.codec.headers(EventName.RESULT, traceparent=request.get("traceparent")),
        )
        status = status_record(request, RequestState.GENERATED, source=item.source)
        self._write_status(producer, key, status)
        self.metrics.requests.labels("generated").inc()

    def _write_failed(
        self,
        producer: Producer,
        request: dict[str, Any],
        failed: dict[str, Any],
        state: RequestState,
        item: Admitted | Refused,
    ) -> None:
        key = str(failed["request_id"]).encode()
        producer.produce(
            self.settings.topic(FAILED),
            self.codec.encode(EventName.FAILED, failed),
            key,
            headers=self.codec.headers(EventName.FAILED),
        )
        status = status_record(
            request, state, source=failed["source"], attempt=failed["attempt"], failed=failed
        )
        self._write_status(producer, key, status)
        self.metrics.requests.labels("failed").inc()
        self.metrics.errors.labels(failed["error_code"]).inc()
        log.info(
            "request %s failed (%s) at %s",
            key.decode(),
            failed["error_code"],
            coordinates(item.message),
        )

    def _write_status(self, producer: Producer, key: bytes, status: dict[str, Any]) -> None:
        producer.produce(
            self.settings.topic(STATUS),
            self.codec.encode(EventName.STATUS, status),
            key,
            headers=self.codec.headers(EventName.STATUS),
        )

    def _write_dead_letter(self, producer: Producer, item: Undecodable) -> None:
        message = item.message
        original = [
            (key, value.encode() if isinstance(value, str) else value)
            for key, value in _header_list(message)
        ]
        headers: list[tuple[str, str | bytes | None]] = list(
            dead_letter_headers(
                original,
                topic=message.topic() or "",
                partition=message.partition() or 0,
                offset=message.offset() or 0,
                error=item.error,
            )
        )
        producer.produce(self.settings.topic(DLQ), message.value(), message.key(), headers=headers)
        self.metrics.requests.labels("dead_letter").inc()

    def _report_lag(self, consumer: Consumer) -> None:
        now = time.monotonic()
        if now - self._last_lag_check < 5.0:
            return
        self._last_lag_check = now
        lag = {"interactive": 0, "batch": 0}
        try:
            for tp in consumer.position(consumer.assignment()):
                # From the last fetch response: asking the broker would wait behind the
                # fetch long-poll, for every partition, on the processing loop.
                _, high = consumer.get_watermark_offsets(tp, cached=True)
                lane = "batch" if tp.topic == self.batch_topic else "interactive"
                lag[lane] += max(high - tp.offset, 0) if tp.offset >= 0 else high
        except KafkaException as exc:
            log.debug("lag not measured: %s", exc)
            return
        for lane, waiting in lag.items():
            self.metrics.lag.labels(lane).set(waiting)


class _Aborted(ProcessorError):  # noqa: N818  # control flow, never leaves this module
    """Inference stopped on purpose (shutdown or revocation); nothing is written."""


def _header_list(message: Message) -> list[tuple[str, str | bytes | None]]:
    headers = message.headers() or []
    return list(headers.items()) if isinstance(headers, dict) else list(headers)
