"""The pipelined loop's ordering rules (``diffstream.pipelined``), on in-memory clients.

The broker-backed proof (overlap through the real processor, exactly one outcome per
request) is ``tests/integration/test_pipelined_processor.py``; these pin the rules: the
next batch's accelerator stage starts before this batch commits, commits go in order with
their own offsets, and a drop of either batch under way drops and rewinds both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from diffstream.exactly_once import ExactlyOnceLoop
from diffstream.loop_contract import Admission, Loop, LoopOptions, Output
from diffstream.pipelined import ACCELERATING, COMMITTED, DROPPED, Pipeline
from diffstream.request_limits import RequestLimits
from diffstream.settings import Settings
from processors.decisions import CONFLICT, DUPLICATE, RUN, Cycle, Decisions
from processors.intake import Intake, admit
from schemas.builders import new_request
from schemas.codec import Codec
from schemas.events import EventName

TOPIC = "requests"
BATCH = 4
WAIT_S = 5.0  # for a stage that waits on another: far beyond what it needs, never reached


def message(partition: int, offset: int) -> Message:
    return Message(topic=TOPIC, partition=partition, offset=offset, value=b"%d" % offset)


class MemoryConsumer:
    """The calls the loop makes of a consumer, over a queue of messages; ``revoke_next``
    runs the loop's revoke callback inside the next read, as librdkafka does."""

    def __init__(self, messages: list[Message], partitions: int) -> None:
        self.queue = list(messages)
        self.owned = [TopicPartition(TOPIC, p) for p in range(partitions)]
        self.seeks: list[tuple[int, int]] = []
        self.revoke_next: list[TopicPartition] = []
        self.on_revoke: Callable[[Any, list[TopicPartition]], None] | None = None
        self.revoked = threading.Event()

    def assignment(self) -> list[TopicPartition]:
        return list(self.owned)

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        if self.revoke_next and self.on_revoke is not None:
            lost, self.revoke_next = self.revoke_next, []
            self.owned = [
                tp for tp in self.owned if tp.partition not in {t.partition for t in lost}
            ]
            self.on_revoke(self, lost)
            self.revoked.set()
        taken, self.queue = self.queue[:num_messages], self.queue[num_messages:]
        return taken

    def poll(self, timeout: float = -1) -> Message | None:
        taken = self.consume(1, 0)
        return taken[0] if taken else None

    def pause(self, partitions: list[TopicPartition]) -> None:
        pass

    def resume(self, partitions: list[TopicPartition]) -> None:
        pass

    def seek(self, partition: TopicPartition) -> None:
        self.seeks.append((partition.partition, partition.offset))

    def consumer_group_metadata(self) -> object:
        return object()


class MemoryProducer:
    """A transactional producer that keeps what each committed transaction held."""

    def __init__(self, abort_first_commit: bool = False) -> None:
        self.committed: list[tuple[list[bytes | None], dict[int, int]]] = []
        self.aborted = 0
        self._open: list[bytes | None] = []
        self._offsets: dict[int, int] = {}
        self._abort_next = abort_first_commit

    def begin_transaction(self) -> None:
        self._open, self._offsets = [], {}

    def produce(self, topic: str, value: bytes | None, key: bytes | None, **_: Any) -> None:
        self._open.append(value)

    def send_offsets_to_transaction(self, offsets: list[TopicPartition], *_: Any) -> None:
        self._offsets = {tp.partition: tp.offset for tp in offsets}

    def commit_transaction(self, timeout: float = -1) -> None:
        if self._abort_next:
            self._abort_next = False
            error = KafkaError(KafkaError._STATE, "abortable", txn_requires_abort=True)
            raise KafkaException(error)
        self.committed.append((self._open, self._offsets))

    def abort_transaction(self, timeout: float = -1) -> None:
        self.aborted += 1


class StagedBatches:
    """A staged role whose batches are lists of messages; ``finish_waits_for`` makes a
    batch's finishing stage wait until the given batch's accelerator stage has started."""

    def __init__(self) -> None:
        self.accelerated: list[int] = []
        self.started = {n: threading.Event() for n in range(1, 10)}
        self.finish_waits_for: dict[int, int] = {}
        self.during_finish: dict[int, Callable[[], None]] = {}
        self.waited: dict[int, bool] = {}
        self.committed_batches: list[list[int]] = []
        self.dropped_batches: list[tuple[list[int], str]] = []
        self.numbers: dict[int, int] = {}

    def gather(self, loop: Loop[list[Message]]) -> list[Message]:
        return loop.fill(0)

    def admit(self, message: Message) -> object:
        return message

    def prepare(self, admitted: Sequence[Admission]) -> list[Message]:
        batch = [entry.message for entry in admitted]
        self.numbers[id(batch)] = len(self.numbers) + 1
        return batch

    def _number(self, prepared: list[Message]) -> int:
        return self.numbers[id(prepared)]

    def accelerate(self, prepared: list[Message], abort: threading.Event) -> None:
        number = self._number(prepared)
        self.accelerated.append(number)
        self.started[number].set()

    def finish(self, prepared: list[Message], abort: threading.Event) -> list[Output]:
        number = self._number(prepared)
        if number in self.during_finish:
            self.during_finish[number]()
        if number in self.finish_waits_for:
            self.waited[number] = self.started[self.finish_waits_for[number]].wait(WAIT_S)
        return [Output(TOPIC, None, m.value(), []) for m in prepared]

    def work(self, prepared: list[Message], abort: threading.Event) -> list[Output]:
        self.accelerate(prepared, abort)
        return self.finish(prepared, abort)

    def held_while_working(self, assignment: list[TopicPartition]) -> list[TopicPartition]:
        return []

    def assigned(self, partitions: list[TopicPartition]) -> None:
        pass

    def committed(self, prepared: list[Message], outputs: Sequence[Output]) -> None:
        self.committed_batches.append([m.offset() or 0 for m in prepared])

    def dropped(self, prepared: list[Message], reason: str) -> None:
        self.dropped_batches.append(([m.offset() or 0 for m in prepared], reason))


def pipelined(
    messages: list[Message], *, partitions: int = 1, abort_first_commit: bool = False
) -> tuple[Pipeline[list[Message]], StagedBatches, MemoryConsumer, MemoryProducer]:
    role = StagedBatches()
    options = LoopOptions(
        role="test",
        instance_id="0",
        group_id="g",
        topics=[TOPIC],
        max_batch_size=BATCH,
        max_batch_wait_ms=0,
        session_timeout_ms=10_000,
        max_poll_interval_ms=300_000,
        transaction_timeout_ms=60_000,
        pipeline_depth=2,
    )
    loop: ExactlyOnceLoop[list[Message]] = ExactlyOnceLoop(Settings(), options, role)
    consumer = MemoryConsumer(messages, partitions)
    producer = MemoryProducer(abort_first_commit)
    consumer.on_revoke = loop._on_revoke  # librdkafka's callback
    loop.consumer, loop.producer = consumer, producer  # type: ignore[assignment]
    loop.pipeline = Pipeline(loop)
    return loop.pipeline, role, consumer, producer


def run_until_idle(pipeline: Pipeline[list[Message]], cycles: int = 6) -> None:
    stop = threading.Event()
    for _ in range(cycles):
        pipeline.cycle(stop)
    assert not pipeline.busy
    pipeline.close()


def order(pipeline: Pipeline[list[Message]]) -> list[tuple[str, int]]:
    return [(event.name, event.batch) for event in pipeline.events]


def test_the_next_batch_is_on_the_accelerator_before_this_one_commits() -> None:
    pipeline, role, _, producer = pipelined([message(0, n) for n in range(2 * BATCH)])
    role.finish_waits_for = {1: 2}  # batch 1's encoding is still running when batch 2 starts
    run_until_idle(pipeline)
    assert role.waited == {1: True}, "batch 2's model call did not start while batch 1 finished"
    events = order(pipeline)
    assert events.index((ACCELERATING, 2)) < events.index((COMMITTED, 1))
    assert role.accelerated == [1, 2]
    # In order, one transaction per batch, each with its own outputs and offsets only.
    assert producer.committed == [
        ([b"0", b"1", b"2", b"3"], {0: 4}),
        ([b"4", b"5", b"6", b"7"], {0: 8}),
    ]
    assert role.committed_batches == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert events.index((COMMITTED, 1)) < events.index((COMMITTED, 2))


def test_an_aborted_transaction_drops_both_batches_and_rewinds_to_the_first() -> None:
    pipeline, role, consumer, producer = pipelined(
        [message(0, n) for n in range(2 * BATCH)], abort_first_commit=True
    )
    role.finish_waits_for = {1: 2}
    stop = threading.Event()
    pipeline.cycle(stop)
    assert producer.aborted == 1
    assert producer.committed == [], "nothing of a dropped batch is committed"
    assert [offsets for offsets, _ in role.dropped_batches] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert consumer.seeks == [(0, 0)], "read again from the earliest uncommitted offset"
    assert not pipeline.busy
    assert order(pipeline)[-2:] == [(DROPPED, 1), (DROPPED, 2)]
    pipeline.close()


def test_a_revoke_of_the_second_batch_drops_the_first_too() -> None:
    # Batch 1 from partition 0, batch 2 from partition 1; partition 1 is lost while
    # batch 1 is being finished.
    messages = [message(0, n) for n in range(BATCH)] + [message(1, n) for n in range(BATCH)]
    pipeline, role, consumer, producer = pipelined(messages, partitions=2)
    role.finish_waits_for = {1: 2}

    def lose_partition_1() -> None:
        role.started[2].wait(WAIT_S)
        consumer.revoke_next = [TopicPartition(TOPIC, 1)]
        assert consumer.revoked.wait(WAIT_S), "the polling thread read nothing meanwhile"

    role.during_finish = {1: lose_partition_1}
    stop = threading.Event()
    pipeline.cycle(stop)
    assert producer.committed == []
    assert sorted(reason for _, reason in role.dropped_batches) == [
        "partitions revoked while working",
        "partitions revoked while working",
    ]
    assert (0, 0) in consumer.seeks, "partition 0 is read again from batch 1's start"
    assert not pipeline.busy
    pipeline.close()


def test_a_role_without_stages_cannot_be_pipelined() -> None:
    class Plain:
        def work(self, prepared: object, abort: threading.Event) -> list[Output]:
            return []

    options = LoopOptions("plain", "0", "g", [TOPIC], 1, 0, 10_000, 300_000, 60_000)
    loop: ExactlyOnceLoop[object] = ExactlyOnceLoop(
        Settings(),
        options._replace(pipeline_depth=2),
        Plain(),  # type: ignore[arg-type]
    )
    with pytest.raises(TypeError, match="set pipeline_depth to 1"):
        Pipeline(loop)


class EmptyLedger:
    """A status table that knows nothing yet (no batch under way has committed)."""

    def get(self, request_id: str) -> None:
        return None

    def crashes(self, request_id: str, source: object) -> int:
        return 0


SMALL: dict[str, Any] = {"width": 64, "height": 64, "steps": 2}


def admitted(request: dict[str, Any], offset: int) -> Intake:
    """``request`` as a processor admits it from offset ``offset`` of partition 0."""
    codec = Codec.without_registry()
    value = codec.encode(EventName.REQUEST, request)
    return admit(
        Message(topic=TOPIC, partition=0, offset=offset, value=value),
        codec=codec,
        limits=RequestLimits(),
        is_cancelled=lambda _: False,
    )


def test_a_request_id_under_way_in_the_batch_before_is_a_duplicate_not_a_second_run() -> None:
    first = new_request("a cat", seed=1, **SMALL)
    other = new_request("a dog", seed=2, **SMALL)
    decisions = Decisions(EmptyLedger(), max_crashes=2)  # type: ignore[arg-type]
    before, after, later = Cycle(), Cycle(), Cycle()
    decisions.decide(before, [admitted(first, 0)])
    # Prepared while `before` is still under way (its statuses not in the table yet):
    decisions.decide(
        after, [admitted(first, 5), admitted({**other, "request_id": first["request_id"]}, 6)]
    )
    assert [decision for _, decision in before.decisions] == [RUN]
    assert [decision for _, decision in after.decisions] == [DUPLICATE, CONFLICT]
    decisions.settled(before)
    decisions.settled(after)
    decisions.decide(later, [admitted(first, 9)])
    assert [decision for _, decision in later.decisions] == [RUN], "settled cycles are forgotten"


class CrashedLedger(EmptyLedger):
    """A status table in which ``suspect`` was under way when a worker died."""

    def __init__(self, suspect: str) -> None:
        self.suspect = suspect

    def crashes(self, request_id: str, source: object) -> int:
        return 1 if request_id == str(self.suspect) else 0


def test_attempts_are_recorded_ahead_only_while_no_cycle_under_way_holds_a_suspect() -> None:
    suspect, innocent, later = (new_request(p, seed=i, **SMALL) for i, p in enumerate("abc"))
    decisions = Decisions(CrashedLedger(suspect["request_id"]), max_crashes=2)  # type: ignore[arg-type]
    running, next_one, after = Cycle(), Cycle(), Cycle()
    decisions.decide(running, [admitted(suspect, 0), admitted(innocent, 1)])
    assert [c.crashes for c in running.candidates] == [1, 0]
    assert not decisions.safe_ahead(), "the cycle itself holds a suspect"
    decisions.decide(next_one, [admitted(later, 2)])
    assert not decisions.safe_ahead(), "a suspect is still under way in the cycle before"
    decisions.settled(running)
    decisions.settled(next_one)
    decisions.decide(after, [admitted(new_request("d", seed=9, **SMALL), 3)])
    assert decisions.safe_ahead(), "no suspect under way any more"


def test_a_processor_on_a_shared_cpu_does_not_pipeline_unless_told() -> None:
    from processors.engine.engine import InferenceEngine  # noqa: PLC0415  # torch
    from processors.engine.settings import EngineSettings  # noqa: PLC0415
    from processors.worker import default_pipeline_depth  # noqa: PLC0415

    engine = InferenceEngine(EngineSettings(device="cpu", warmup=False))
    assert default_pipeline_depth(engine) == 1
    assert Settings().processor.pipeline_depth is None, "the default follows the device"
    own_cores = InferenceEngine(EngineSettings(device="cpu", warmup=False, cpu_cores=(0,)))
    assert default_pipeline_depth(own_cores) == 2, "a model on cores of its own leaves the rest"
