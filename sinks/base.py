"""A batching sink that writes its output events and consumed offsets in one Kafka transaction.

A sink is a small class: ``setup()`` opens and validates its clients, ``write(batch)`` does
the I/O for a batch of messages and returns the events to produce. This base owns the loop
(the same KIP-447 read-process-write as the stream processor): gather a batch, run
``write`` on a worker thread while the polling thread keeps the group membership alive
(carrying what it reads to the next batches; pausing only beyond ``CARRY_BATCHES``, as a
pause drops librdkafka's prefetched queue), retry it with backoff while the downstream
system is unavailable, then
produce its events with the batch's offsets in one transaction. A crash anywhere before the
commit leaves nothing visible to read_committed readers; whoever owns the partitions next
writes the batch again, so ``write`` must be idempotent (e.g. deterministic object keys).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from typing import NamedTuple

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from diffstream.consuming import (
    next_offsets,
    outside,
    partition_names,
    rewind,
    take_queued,
    usable,
)
from diffstream.kafka import make_consumer, make_producer
from diffstream.settings import KafkaConfig, Settings, SinkSettings
from schemas.dlq import dead_letter_headers
from sinks.exceptions import StorageUnavailableError

log = logging.getLogger(__name__)

IDLE_POLL_S = 0.1
# Messages read during a write are carried to the next batches, up to this many batches;
# then the assignment is paused until the write ends.
CARRY_BATCHES = 4

Headers = list[tuple[str, str | bytes | None]]


class Output(NamedTuple):
    """One event a sink asks to produce in the batch's transaction."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers


class _Aborted(Exception):  # noqa: N818  # control flow, never leaves this module
    """The batch must not be committed (stopping, or its partitions were revoked)."""


class TransactionalSink(ABC):
    """The consume / write / transactional-commit loop; subclasses implement the I/O."""

    #: Used in client ids and the transactional.id.
    role = "sink"

    def __init__(self, settings: Settings, config: SinkSettings, topics: Sequence[str]) -> None:
        self.settings = settings
        self.config = config
        self.topics = list(topics)
        self.instance_id = config.instance_id or f"{socket.gethostname()}-{os.getpid()}"
        self.batches = 0
        self.retries = 0
        self._batch_partitions: set[tuple[str, int]] = set()
        self._revoked_in_batch = False
        self._abort = threading.Event()
        self._previous_batch = 0  # messages in the last batch: evidence of load
        # Read while a batch was being written: the start of the next batches.
        self._carried: list[Message] = []
        self._assignment_paused = False

    @abstractmethod
    def setup(self, stop: threading.Event) -> None:
        """Open and validate the sink's clients (called once, before consuming)."""

    @abstractmethod
    def write(self, batch: Sequence[Message]) -> list[Output]:
        """Do the batch's I/O; raise ``StorageUnavailableError`` to have it retried later."""

    def on_retry(self, error: StorageUnavailableError, attempt: int) -> None:  # noqa: B027
        """Called before the batch is retried (for metrics); does nothing by default."""

    # -- the loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Consume and write until ``stop`` is set; the batch under way is committed or
        dropped (to be written again by the next owner of its partitions)."""
        self.setup(stop)
        consumer = make_consumer(self.settings, self._consumer_config())
        producer = make_producer(self.settings, self._producer_config())
        producer.init_transactions(30)
        consumer.subscribe(
            self.topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        writer = ThreadPoolExecutor(1, thread_name_prefix=f"{self.role}-write")
        log.info("%s %s consuming %s", self.role, self.instance_id, ", ".join(self.topics))
        try:
            while not stop.is_set():
                self._batch(consumer, producer, writer, stop)
        finally:
            self._abort.set()
            writer.shutdown(wait=True, cancel_futures=True)
            consumer.close()
            producer.flush(10)
            log.info("%s %s stopped after %d batches", self.role, self.instance_id, self.batches)

    def _consumer_config(self) -> KafkaConfig:
        config: KafkaConfig = {
            "group.id": self.config.group_id,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": self.config.session_timeout_ms,
            "max.poll.interval.ms": self.config.max_poll_interval_ms,
            # Results carry image bytes: let one fetch hold the largest of them.
            "fetch.max.bytes": 128 * 1024 * 1024,
            "max.partition.fetch.bytes": 64 * 1024 * 1024,
            "client.id": f"diffstream-{self.role}-{self.instance_id}",
        }
        if self.config.static_membership:
            config["group.instance.id"] = self.instance_id
        return config

    def _producer_config(self) -> KafkaConfig:
        return {
            # Stable across restarts: init_transactions aborts what a killed life left open.
            "transactional.id": f"diffstream-{self.role}-{self.instance_id}",
            "transaction.timeout.ms": self.config.transaction_timeout_ms,
            "linger.ms": 2,
            "client.id": f"diffstream-{self.role}-{self.instance_id}",
        }

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.debug("assigned %s", partition_names(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._carried = outside(self._carried, partitions)
        if {(tp.topic, tp.partition) for tp in partitions} & self._batch_partitions:
            # The batch's offsets can no longer be committed by us: drop its output.
            self._revoked_in_batch = True
            self._abort.set()
        log.debug("revoked %s", partition_names(partitions))

    # -- one batch ------------------------------------------------------------------------

    def _batch(
        self,
        consumer: Consumer,
        producer: Producer,
        writer: ThreadPoolExecutor,
        stop: threading.Event,
    ) -> None:
        messages = self._fill(consumer)
        if not messages:
            return
        self.batches += 1
        self._batch_partitions = {(m.topic() or "", m.partition() or 0) for m in messages}
        self._revoked_in_batch = False
        self._abort.clear()
        assignment = consumer.assignment()
        self._assignment_paused = False
        try:
            outputs = self._write_off_thread(consumer, writer, messages, assignment, stop)
            if self._revoked_in_batch:
                raise _Aborted("partitions revoked while writing")
            self._commit(consumer, producer, messages, outputs)
        except _Aborted as reason:
            log.warning("batch of %d dropped: %s", len(messages), reason)
            rewind(consumer, [*messages, *self._carried])
            self._carried = []
        finally:
            # Only when paused: resuming drops the prefetched queue, to be fetched again.
            if self._assignment_paused:
                consumer.resume(assignment)

    def _fill(self, consumer: Consumer) -> list[Message]:
        room = self.config.max_batch_size
        batch, self._carried = self._carried[:room], self._carried[room:]
        if not batch:
            first = consumer.poll(IDLE_POLL_S)
            if first is None:
                return []
            batch = [first] if usable(first) else []
        wait_s = self.config.max_batch_wait_ms / 1000
        busy = self._previous_batch > 1 or len(batch) > 1
        queued = take_queued(consumer, room - len(batch), wait_s, busy=busy)
        batch += [m for m in queued if usable(m)]
        self._previous_batch = len(batch)
        return batch

    def _write_off_thread(
        self,
        consumer: Consumer,
        writer: ThreadPoolExecutor,
        messages: Sequence[Message],
        assignment: list[TopicPartition],
        stop: threading.Event,
    ) -> list[Output]:
        future: Future[list[Output]] = writer.submit(self._write_retrying, messages)
        limit = CARRY_BATCHES * self.config.max_batch_size
        # Woken by the end of the write, not by a poll's timeout (latency).
        while not futures_wait([future], timeout=IDLE_POLL_S).done:
            # Keeps the member alive however long the write (or an outage) takes, and reads
            # what arrives meanwhile for the next batches.
            room = max(1, limit - len(self._carried))
            self._carried += [m for m in consumer.consume(room, 0) if usable(m)]
            if len(self._carried) >= limit and not self._assignment_paused:
                # Pausing drops the prefetched queue: only with several batches in hand.
                consumer.pause(assignment)
                self._assignment_paused = True
            if stop.is_set():
                self._abort.set()
        return future.result()

    def _write_retrying(self, messages: Sequence[Message]) -> list[Output]:
        """Runs on the writer thread: ``write`` until it succeeds, backing off in between."""
        delay = self.config.retry_initial_s
        attempt = 0
        while True:
            if self._abort.is_set():
                raise _Aborted("stopping" if not self._revoked_in_batch else "partitions revoked")
            attempt += 1
            try:
                return self.write(messages)
            except StorageUnavailableError as error:
                self.retries += 1
                self.on_retry(error, attempt)
                pause = delay / 2 + random.uniform(0, delay / 2)  # jitter spreads the herd
                log.warning(
                    "batch of %d not written (attempt %d), retrying in %.1fs: %s",
                    len(messages),
                    attempt,
                    pause,
                    error,
                )
                if self._abort.wait(pause):
                    raise _Aborted("stopping during a retry") from error
                delay = min(delay * 2, self.config.retry_max_s)

    def _commit(
        self,
        consumer: Consumer,
        producer: Producer,
        messages: Sequence[Message],
        outputs: Sequence[Output],
    ) -> None:
        try:
            producer.begin_transaction()
            for output in outputs:
                producer.produce(output.topic, output.value, output.key, headers=output.headers)
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
            raise _Aborted(str(error)) from exc


def dead_letter(topic: str, message: Message, error: BaseException) -> Output:
    """The dead letter of ``message``: its bytes unchanged, headers saying where and why."""
    raw = message.headers() or []
    pairs = list(raw.items()) if isinstance(raw, dict) else list(raw)
    original = [(k, v.encode() if isinstance(v, str) else v) for k, v in pairs]
    headers = dead_letter_headers(
        original,
        topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        error=error,
    )
    return Output(topic, message.key(), message.value(), list(headers))


def coordinates(message: Message) -> str:
    """``topic[partition]@offset``, for logs."""
    return f"{message.topic()}[{message.partition()}]@{message.offset()}"
