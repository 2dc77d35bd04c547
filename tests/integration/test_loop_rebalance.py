"""A partition lost and assigned back to the same member is read again, whatever the loop
was doing when it was lost.

Both were found by the three-broker kill test, where a member overran max.poll.interval.ms
while the broker was away and rejoined:
- librdkafka keeps a partition's pause across a revoke and a new assignment (Java's consumer
  does not): one paused while the loop worked (carrying) came back paused, and a processor
  sat assigned to it for 300 s, reading nothing;
- one lost and assigned back within a single gather restarts from its commit, and the
  gather dropped what it read of it after the new assignment too: those requests were
  skipped (and committed past by the next batches).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest
from confluent_kafka import Message, Producer, TopicPartition

from diffstream.exactly_once import ExactlyOnceLoop
from diffstream.loop_contract import Admission, Loop, LoopOptions, Output
from diffstream.settings import Settings

pytestmark = pytest.mark.integration

MAX_POLL_INTERVAL_MS = 6000


class _Recorder:
    """A role that only watches its assignments (the test drives the consumer itself)."""

    def __init__(self) -> None:
        self.assignments: list[list[TopicPartition]] = []

    def gather(self, loop: Loop[object]) -> list[Message]:
        return []

    def admit(self, message: Message) -> object:
        return message

    def prepare(self, admitted: Sequence[Admission]) -> object:
        return admitted

    def work(self, prepared: object, abort: threading.Event) -> list[Output]:
        return []

    def held_while_working(self, assignment: list[TopicPartition]) -> list[TopicPartition]:
        return []

    def assigned(self, partitions: list[TopicPartition]) -> None:
        self.assignments.append(list(partitions))

    def committed(self, prepared: object, outputs: Sequence[Output]) -> None:
        pass

    def dropped(self, prepared: object, reason: str) -> None:
        pass


def _poll_into(
    loop: ExactlyOnceLoop[object], read: list[Message], done: Callable[[], bool], timeout_s: float
) -> None:
    """Poll the loop's consumer (serving its rebalance callbacks) until ``done()``."""
    assert loop.consumer is not None
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        message = loop.consumer.poll(0.2)
        if message is not None and message.error() is None:
            read.append(message)


class _LostInGather(_Recorder):
    """A role whose first gather outlives max.poll.interval.ms, then reads on through the
    rejoin (the partition's revoke and its new assignment) until it holds what ``publish``
    wrote meanwhile, as read after the new assignment."""

    def __init__(self, publish: Callable[[], int]) -> None:
        super().__init__()
        self._publish = publish
        self.read_after_rejoin: list[Message] | None = None

    def gather(self, loop: Loop[object]) -> list[Message]:
        if self.read_after_rejoin is not None:
            return loop.fill()
        assert loop.consumer is not None
        time.sleep(MAX_POLL_INTERVAL_MS / 1000 + 2)
        expected = self._publish()
        read: list[Message] = []
        after: list[Message] = []
        deadline = time.monotonic() + 30
        while len(after) < expected and time.monotonic() < deadline:
            message = loop.consumer.poll(0.2)
            if message is not None and message.error() is None:
                read.append(message)
                # One poll serves the callbacks before the message it returns.
                if len(self.assignments) >= 2:
                    after.append(message)
        self.read_after_rejoin = after
        return read


def _connected_loop(settings: Settings, topic: str, role: _Recorder) -> ExactlyOnceLoop[object]:
    options = LoopOptions(
        role="rebalance-test",
        instance_id=topic[-6:],
        group_id=f"{topic}.group",
        topics=[topic],
        max_batch_size=8,
        max_batch_wait_ms=10,
        session_timeout_ms=MAX_POLL_INTERVAL_MS,
        max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
        transaction_timeout_ms=10_000,
    )
    loop: ExactlyOnceLoop[object] = ExactlyOnceLoop(settings, options, role)
    loop._connect(threading.Event())  # the loop's own clients and callbacks
    return loop


def _produce(settings: Settings, topic: str, count: int) -> int:
    producer = Producer(settings.kafka_config())
    for i in range(count):
        producer.produce(topic, f"m{i}".encode())
    assert producer.flush(10) == 0
    return count


def test_a_partition_paused_when_lost_is_read_again_once_assigned_back(
    settings: Settings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(1)
    role = _Recorder()
    loop = _connected_loop(settings, topic, role)
    try:
        read: list[Message] = []
        _poll_into(loop, read, lambda: bool(role.assignments), 30)
        loop.pause([TopicPartition(topic, 0)])
        # Lost: the member does not poll for longer than max.poll.interval.ms.
        time.sleep(MAX_POLL_INTERVAL_MS / 1000 + 2)
        _produce(settings, topic, 3)
        _poll_into(loop, read, lambda: len(role.assignments) >= 2, 30)
        assert len(role.assignments) >= 2, "the partition was never assigned again"
        _poll_into(loop, read, lambda: len(read) >= 3, 20)
        assert [m.value() for m in read] == [b"m0", b"m1", b"m2"]
    finally:
        loop._disconnect()


def test_what_a_gather_read_after_its_partition_came_back_is_read_again(
    settings: Settings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(1)
    role = _LostInGather(lambda: _produce(settings, topic, 3))
    loop = _connected_loop(settings, topic, role)
    try:
        _poll_into(loop, [], lambda: bool(role.assignments), 30)
        first = loop.begin_batch()
        assert len(role.assignments) >= 2, "the member was not lost and assigned back"
        assert [m.value() for m in role.read_after_rejoin or []] == [b"m0", b"m1", b"m2"]
        # The gather saw the revoke: what it read is dropped, and read again from the commit.
        assert first is None
        batch = None
        deadline = time.monotonic() + 20
        while batch is None and time.monotonic() < deadline:
            batch = loop.begin_batch()
        assert batch is not None, "what the gather read after the new assignment was skipped"
        assert [m.value() for m in batch.messages] == [b"m0", b"m1", b"m2"]
    finally:
        loop._disconnect()
