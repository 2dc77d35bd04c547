"""Helpers of the consume-process-commit loops (processor and sinks): which messages to
use, where to commit, how to read again, and how much to take for a batch."""

from __future__ import annotations

import heapq
import logging
from collections import deque
from collections.abc import Sequence

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from diffstream.settings import GroupProtocol, KafkaConfig

log = logging.getLogger(__name__)

# Reading committed offsets after a rebalance; past it, the loop makes new clients.
COMMITTED_TIMEOUT_S = 10.0


def usable(message: Message) -> bool:
    """A message to process: not an error (end-of-partition events are not logged). A fatal
    error raises ``KafkaException``: such a consumer reads nothing more (a static member
    fenced after the coordinator moved, as a broker kill showed), so the caller's loop must
    make new clients."""
    error = message.error()
    if error is None:
        return True
    # The fatal event itself comes as _FATAL with the fatal flag unset (a processor read
    # nothing more after a static member was fenced on a broker kill): both end the clients.
    if error.fatal() or error.code() == KafkaError._FATAL:
        raise KafkaException(error)
    if error.code() != KafkaError._PARTITION_EOF:
        log.warning("consumer error: %s", error)
    return False


def close_dirty(consumer: Consumer | None, producer: Producer | None) -> None:
    """Close a loop's clients however they failed: a fenced or fatal client raises its error
    again from close and flush, which must not stop the recovery that follows."""
    if consumer is not None:
        try:
            consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.info("consumer close: %s", exc)
    if producer is not None:
        try:
            producer.flush(5)
        except KafkaException as exc:
            log.info("producer flush: %s", exc)


def next_offsets(messages: Sequence[Message]) -> list[TopicPartition]:
    """Per partition, the offset after the last of ``messages``: what to commit."""
    ends: dict[tuple[str, int], int] = {}
    for m in messages:
        key = (m.topic() or "", m.partition() or 0)
        ends[key] = max(ends.get(key, -1), (m.offset() or 0) + 1)
    return [TopicPartition(topic, partition, offset) for (topic, partition), offset in ends.items()]


def rewind(consumer: Consumer, messages: Sequence[Message]) -> None:
    """Seek each partition back to the first of ``messages``, so they are read again."""
    starts: dict[tuple[str, int], int] = {}
    for m in messages:
        key = (m.topic() or "", m.partition() or 0)
        starts[key] = min(starts.get(key, m.offset() or 0), m.offset() or 0)
    for (topic, partition), offset in starts.items():
        _seek(consumer, TopicPartition(topic, partition, offset))


def seek_to_committed(
    consumer: Consumer, partitions: Sequence[TopicPartition], timeout_s: float
) -> None:
    """Seek ``partitions`` back to their committed offsets (without one, to the start: the
    loops read from the earliest), so that what was fetched past them is read again."""
    for tp in consumer.committed(list(partitions), timeout=timeout_s):
        offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
        _seek(consumer, TopicPartition(tp.topic, tp.partition, offset))


def _seek(consumer: Consumer, position: TopicPartition) -> None:
    try:
        consumer.seek(position)
    except KafkaException as exc:
        # No longer ours, or not fetching yet: either way it starts from the commit.
        log.info("not rewinding %s[%d]: %s", position.topic, position.partition, exc)


def without_revoked(
    consumer: Consumer,
    gathered: Sequence[Message],
    revoked: set[tuple[str, int]],
    timeout_s: float = COMMITTED_TIMEOUT_S,
) -> list[Message]:
    """``gathered`` minus the messages of partitions ``revoked`` while gathering. One assigned
    back within the same gather restarted from its commit, and what it fetched since is
    dropped too: it is read from the commit again (else later batches committed past those
    requests, and they had no outcome: the three-broker kill test's stall)."""
    back = [tp for tp in consumer.assignment() if (tp.topic, tp.partition) in revoked]
    if back:
        seek_to_committed(consumer, back, timeout_s)
    return outside(gathered, [TopicPartition(topic, p) for topic, p in revoked])


def outside(messages: Sequence[Message], partitions: Sequence[TopicPartition]) -> list[Message]:
    """``messages`` minus those of ``partitions`` (revoked: their new owner reads them again
    from the committed offset)."""
    lost = {(tp.topic, tp.partition) for tp in partitions}
    return [m for m in messages if (m.topic(), m.partition()) not in lost]


def oldest_first(messages: Sequence[Message], room: int) -> tuple[list[Message], list[Message]]:
    """Up to ``room`` of ``messages``, the oldest first across partitions, and the rest.

    librdkafka hands a fetch over partition by partition, so in a backlog taking messages in
    the order they came serves some partitions' requests long before older ones of others.
    Each pick is the oldest (by timestamp) of the partitions' next messages: a partition's
    messages are still taken in offset order, so a commit never passes one not taken, even
    when timestamps run backwards (producers with other clocks).
    """
    queues: dict[tuple[str | None, int | None], deque[Message]] = {}
    for message in messages:
        queues.setdefault((message.topic(), message.partition()), deque()).append(message)
    heads = [(queue[0].timestamp()[1], order, queue) for order, queue in enumerate(queues.values())]
    heapq.heapify(heads)
    taken: list[Message] = []
    while heads and len(taken) < room:
        _, order, queue = heapq.heappop(heads)
        taken.append(queue.popleft())
        if queue:
            heapq.heappush(heads, (queue[0].timestamp()[1], order, queue))
    chosen = {id(m) for m in taken}
    return taken, [m for m in messages if id(m) not in chosen]


def partition_names(partitions: Sequence[TopicPartition]) -> str:
    """``topic[partition], ...`` for logs."""
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"


def take_queued(consumer: Consumer, room: int, wait_s: float, *, busy: bool) -> list[Message]:
    """Up to ``room`` messages: what is queued already, then, while traffic is busy, what
    arrives within ``wait_s``.

    ``busy`` is the caller's evidence of concurrent traffic (its previous batch held more
    than one message). A lone message at a low rate starts at once, since waiting for
    company that is not coming only adds latency; under load batches fill while they wait.
    """
    if room <= 0:
        return []
    queued = consumer.consume(room, 0)
    if len(queued) < room and wait_s > 0 and (busy or queued):
        queued += consumer.consume(room - len(queued), wait_s)
    return queued


def member_config(
    group_id: str,
    client_id: str,
    *,
    session_timeout_ms: int,
    max_poll_interval_ms: int,
    static_instance_id: str | None = None,
    group_protocol: GroupProtocol = "classic",
) -> KafkaConfig:
    """A consumer-group member that commits what it has finished itself: read_committed,
    no auto-commit, incremental rebalances (a member keeps what it is not asked to give up):
    cooperative-sticky on the classic protocol, the broker's range assignor on KIP-848's
    (where the session timeout is the broker's). With ``static_instance_id``, a restart
    takes its partitions back at once."""
    config: KafkaConfig = {
        "group.id": group_id,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "max.poll.interval.ms": max_poll_interval_ms,
        "client.id": client_id,
    }
    if group_protocol == "consumer":
        config |= {"group.protocol": "consumer", "group.remote.assignor": "range"}
    else:
        config |= {
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": session_timeout_ms,
        }
    if static_instance_id is not None:
        config["group.instance.id"] = static_instance_id
    return config


def stable_ends(
    admin: AdminClient, partitions: Sequence[TopicPartition], timeout_s: float
) -> dict[tuple[str, int], int]:
    """Each partition's last stable offset: the end a read_committed reader can reach now
    (an open transaction does not hold it back). One request on the admin client's own
    connections: a consumer's watermark queries wait behind its fetches (fetch.wait.max.ms
    each), which made a table's sync take seconds."""
    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    futures = admin.list_offsets(
        {TopicPartition(tp.topic, tp.partition): latest for tp in partitions},
        isolation_level=IsolationLevel.READ_COMMITTED,
        request_timeout=timeout_s,
    )
    return {
        (tp.topic, tp.partition): int(future.result(timeout=timeout_s).offset)
        for tp, future in futures.items()
    }
