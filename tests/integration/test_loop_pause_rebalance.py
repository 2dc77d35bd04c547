"""A partition paused when its member loses it is read again once it is assigned back.

librdkafka keeps a partition's pause across a revoke and a new assignment (Java's consumer
does not). The loop pauses partitions while it works (carrying) and for deferrals; one lost
meanwhile (the member overran max.poll.interval.ms during a broker kill) came back paused,
and a processor of the three-broker test sat assigned to it for 300 s, reading nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest
from confluent_kafka import Message, Producer, TopicPartition

from diffstream.exactly_once import ExactlyOnceLoop
from diffstream.loop_contract import Admission, LoopOptions, Output
from diffstream.settings import Settings

pytestmark = pytest.mark.integration

MAX_POLL_INTERVAL_MS = 6000


class _Recorder:
    """A role that only watches its assignments (the test drives the consumer itself)."""

    def __init__(self) -> None:
        self.assignments: list[list[TopicPartition]] = []

    def gather(self, loop: ExactlyOnceLoop[object]) -> list[Message]:
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


def test_a_partition_paused_when_lost_is_read_again_once_assigned_back(
    settings: Settings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(1)
    role = _Recorder()
    options = LoopOptions(
        role="pause-test",
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
    try:
        read: list[Message] = []
        _poll_into(loop, read, lambda: bool(role.assignments), 30)
        loop.pause([TopicPartition(topic, 0)])
        # Lost: the member does not poll for longer than max.poll.interval.ms.
        time.sleep(MAX_POLL_INTERVAL_MS / 1000 + 2)
        producer = Producer(settings.kafka_config())
        for i in range(3):
            producer.produce(topic, f"m{i}".encode())
        assert producer.flush(10) == 0
        _poll_into(loop, read, lambda: len(role.assignments) >= 2, 30)
        assert len(role.assignments) >= 2, "the partition was never assigned again"
        _poll_into(loop, read, lambda: len(read) >= 3, 20)
        assert [m.value() for m in read] == [b"m0", b"m1", b"m2"]
    finally:
        loop._disconnect()
