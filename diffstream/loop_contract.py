"""What a role and the exactly-once loop agree on: the options, the hooks, the outputs, and
what the hooks and the pipeline may call of the loop."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, Protocol, TypeVar, runtime_checkable

from confluent_kafka import Consumer, Message, TopicPartition

from diffstream.consuming import member_config
from diffstream.settings import GroupProtocol, KafkaConfig, TransactionalSettings

Headers = list[tuple[str, str | bytes | None]]
Key = tuple[str, int]
Prepared = TypeVar("Prepared")
Done = TypeVar("Done")


class Output(NamedTuple):
    """One event a role asks to produce in the batch's transaction."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers


class LoopOptions(NamedTuple):
    """How a role's clients are configured and its batches are sized."""

    role: str
    instance_id: str
    group_id: str
    topics: list[str]
    max_batch_size: int
    max_batch_wait_ms: int
    session_timeout_ms: int
    max_poll_interval_ms: int
    transaction_timeout_ms: int
    static_membership: bool = False
    group_protocol: GroupProtocol = "classic"
    # On stop, how long the batch under way may still take before it is dropped.
    shutdown_grace_s: float = 0.0
    # Backoff while work raises DownstreamUnavailableError.
    retry_initial_s: float = 0.5
    retry_max_s: float = 30.0
    # Batches under way at once: 2 needs a ``StagedRole`` (see ``diffstream.pipelined``).
    pipeline_depth: int = 1
    consumer_overrides: KafkaConfig = {}  # noqa: RUF012  # read-only, NamedTuple default
    producer_overrides: KafkaConfig = {}  # noqa: RUF012

    @property
    def client_id(self) -> str:
        return f"diffstream-{self.role}-{self.instance_id}"

    def consumer_config(self) -> KafkaConfig:
        """The group member's librdkafka settings."""
        return {
            **member_config(
                self.group_id,
                self.client_id,
                session_timeout_ms=self.session_timeout_ms,
                max_poll_interval_ms=self.max_poll_interval_ms,
                static_instance_id=self.instance_id if self.static_membership else None,
                group_protocol=self.group_protocol,
            ),
            **self.consumer_overrides,
        }

    def producer_config(self) -> KafkaConfig:
        """The transactional producer's librdkafka settings."""
        return {
            # Stable across restarts: init_transactions aborts what a killed life left open.
            "transactional.id": self.client_id,
            "transaction.timeout.ms": self.transaction_timeout_ms,
            "linger.ms": 2,
            "client.id": self.client_id,
            **self.producer_overrides,
        }

    @classmethod
    def of(
        cls,
        role: str,
        instance_id: str,
        topics: list[str],
        config: TransactionalSettings,
        **more: Any,
    ) -> LoopOptions:
        """The options of a role configured by a ``TransactionalSettings`` section."""
        return cls(
            role=role,
            instance_id=instance_id,
            group_id=config.group_id,
            topics=topics,
            max_batch_size=config.max_batch_size,
            max_batch_wait_ms=config.max_batch_wait_ms,
            session_timeout_ms=config.session_timeout_ms,
            max_poll_interval_ms=config.max_poll_interval_ms,
            transaction_timeout_ms=config.transaction_timeout_ms,
            static_membership=config.static_membership,
            group_protocol=config.group_protocol,
            **more,
        )


class Admission(NamedTuple):
    """One message of a batch and what the role made of it."""

    message: Message
    item: object


class Role(Protocol[Prepared]):
    """The hooks a transactional role gives the loop."""

    def gather(self, loop: Loop[Prepared]) -> list[Message]:
        """The next batch (``loop.fill()`` does the plain thing). Polling thread."""

    def admit(self, message: Message) -> object:
        """Decode and check one message; raise ``DeferMessage`` to read its partition again
        later. Polling thread."""

    def prepare(self, admitted: Sequence[Admission]) -> Prepared:
        """Batch-level decisions before the work (e.g. duplicates). Polling thread."""

    def work(self, prepared: Prepared, abort: threading.Event) -> list[Output]:
        """The batch's work and the events to produce; raise ``DroppedBatch`` to give the
        batch up, ``DownstreamUnavailableError`` to have it retried. Worker thread."""

    def held_while_working(self, assignment: list[TopicPartition]) -> list[TopicPartition]:
        """Partitions kept paused while a batch is worked on (not carried)."""

    def assigned(self, partitions: list[TopicPartition]) -> None:
        """Partitions were assigned (inside poll)."""

    def committed(self, prepared: Prepared, outputs: Sequence[Output]) -> None:
        """The batch's transaction committed."""

    def dropped(self, prepared: Prepared, reason: str) -> None:
        """The batch was given up; it will be read again (here or by the next owner)."""


@runtime_checkable
class StagedRole(Role[Prepared], Protocol[Prepared]):
    """A role whose work splits in two, so that batches can overlap: the accelerator's
    part (the model call) runs serially on one thread, the rest while the next batch's
    accelerator part runs. ``work`` must still do both (for a pipeline depth of 1)."""

    def accelerate(self, prepared: Prepared, abort: threading.Event) -> None:
        """The model call; its results stay in ``prepared``. Accelerator thread."""

    def finish(self, prepared: Prepared, abort: threading.Event) -> list[Output]:
        """The rest of the work (encoding) and the events to produce. Finishing thread."""


@dataclass
class Batch(Generic[Prepared]):
    """A batch under way: its messages, what the role made of them, what is carried."""

    number: int
    messages: list[Message]
    prepared: Prepared
    # Partitions read (carried) while it is worked on, paused only beyond CARRY_BATCHES.
    carrying: list[TopicPartition]


class Loop(Protocol[Prepared]):
    """The exactly-once loop as a role's hooks and the pipeline (``diffstream.pipelined``)
    use it; ``ExactlyOnceLoop`` is the one implementation. Named here so that neither has
    to import the loop's module, which imports both."""

    options: LoopOptions
    role: Role[Prepared]
    consumer: Consumer | None
    carried: list[Message]
    abort: threading.Event

    # -- gathering (a role's gather hook)

    def fill(self, wait_s: float = ...) -> list[Message]: ...

    def take_carried(self, room: int) -> list[Message]: ...

    def take_queued(self, room: int, *, busy: bool = False) -> list[Message]: ...

    def pause(self, partitions: list[TopicPartition]) -> None: ...

    def resume(self, partitions: list[TopicPartition]) -> None: ...

    # -- a batch's life (the pipeline)

    def begin_batch(self) -> Batch[Prepared] | None: ...

    def under_way(self, batches: Sequence[Batch[Prepared]]) -> None: ...

    def check_owned(self) -> None: ...

    def drop(self, batches: Sequence[Batch[Prepared]], reason: BaseException | str) -> None: ...

    def keep_alive(
        self,
        future: Future[Done],
        carrying: list[TopicPartition],
        paused: list[TopicPartition],
        stop: threading.Event,
        on_tick: Callable[[], None] | None = None,
    ) -> Done: ...

    def retrying(
        self, work: Callable[[Prepared, threading.Event], Done], batch: Prepared
    ) -> Done: ...

    def commit(self, outputs: Sequence[Output], offsets: list[TopicPartition]) -> None: ...
