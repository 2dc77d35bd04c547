"""What the replicated scenarios ask of a three-broker cluster: who leads the request
partitions, who coordinates a processor's transactions, whether a node is back in sync."""

from __future__ import annotations

import time
from collections import Counter

from confluent_kafka import Consumer, KafkaException, TopicPartition

from diffstream.kafka import make_admin
from diffstream.settings import Settings
from infra.chaos.exceptions import ChaosError
from schemas.topics import REQUESTS

TRANSACTION_STATE = "__transaction_state"


def request_leaders(settings: Settings) -> Counter[int]:
    """How many request partitions each broker (by node id) leads now."""
    topic = settings.topic(REQUESTS)
    metadata = make_admin(settings).list_topics(topic, timeout=10)
    return Counter(p.leader for p in metadata.topics[topic].partitions.values() if p.leader >= 0)


def _transactional_id(key: bytes) -> str | None:
    # A __transaction_state key: int16 version, then the id as an int16-length string.
    if len(key) < 4:
        return None
    length = int.from_bytes(key[2:4], "big")
    return key[4 : 4 + length].decode(errors="replace")


def processor_coordinator(settings: Settings, timeout_s: float = 30.0) -> tuple[str, int]:
    """A processor's transactional id and the node id of its transaction coordinator: the
    leader of the __transaction_state partition its id is stored in (the client has no
    DescribeTransactions, so the log itself is read)."""
    metadata = make_admin(settings).list_topics(TRANSACTION_STATE, timeout=10)
    partitions = metadata.topics[TRANSACTION_STATE].partitions
    reader = Consumer(
        settings.kafka_config(
            {"group.id": "diffstream-chaos-coordinator", "enable.auto.commit": False}
        )
    )
    try:
        reader.assign([TopicPartition(TRANSACTION_STATE, p, 0) for p in partitions])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = reader.poll(1.0)
            if message is None or message.error() or message.key() is None:
                continue
            txn_id = _transactional_id(message.key() or b"")
            if txn_id and "process" in txn_id:
                return txn_id, partitions[message.partition() or 0].leader
    finally:
        reader.close()
    raise ChaosError(
        f"no processor's transactional id in {TRANSACTION_STATE} after {timeout_s:.0f}s; "
        "a processor must have committed a transaction before its coordinator is looked up"
    )


def wait_in_sync(settings: Settings, node_id: int, timeout_s: float) -> float:
    """Block until ``node_id`` is in the ISR of every partition it replicates; the seconds."""
    began = time.monotonic()
    lagging = -1
    while time.monotonic() - began < timeout_s:
        try:
            topics = make_admin(settings).list_topics(timeout=10).topics.values()
        except KafkaException:
            time.sleep(1.0)
            continue
        lagging = sum(
            1
            for topic in topics
            for p in topic.partitions.values()
            if node_id in p.replicas and node_id not in p.isrs
        )
        if lagging == 0:
            return time.monotonic() - began
        time.sleep(1.0)
    raise ChaosError(
        f"broker {node_id} is still out of sync on {lagging} partition(s) after {timeout_s:.0f}s"
    )
