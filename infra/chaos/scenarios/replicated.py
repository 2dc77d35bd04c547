"""Losing brokers of a three-broker cluster (replication 3, min.insync.replicas 2) under the
steady 300-request run: the leader of most request partitions, a transaction coordinator,
a rolling restart, two brokers at once. No role may exit or be restarted."""

from __future__ import annotations

import time

from confluent_kafka import KafkaError, Message, Producer

from diffstream.kafka import make_admin
from diffstream.replica_check import ReplicaCheck
from infra.chaos.arena import Arena
from infra.chaos.cluster_faults import (
    processor_coordinator,
    request_leaders,
    wait_in_sync,
)
from infra.chaos.exceptions import ChaosError
from infra.chaos.scenario import Scenario, standard_fleet
from infra.chaos.scenarios.faults import RUN_REQUESTS, _drain, _steady_run
from infra.chaos.stack import ServerHandle
from schemas.topics import REQUESTS

LEADER_DOWN_S = 20.0
SYNC_TIMEOUT_S = 180.0


def _node(arena: Arena, node_id: int) -> ServerHandle:
    return arena.stack.brokers[node_id - 1]


def _kill_and_restart(arena: Arena, node_id: int, what: str, down_s: float) -> None:
    broker = _node(arena, node_id)
    with arena.fault(f"kill -9 {broker.name} ({what}), started again after {down_s:g}s"):
        broker.kill()
        time.sleep(down_s)
        took = broker.start()
        synced = wait_in_sync(arena.stack.settings, node_id, SYNC_TIMEOUT_S)
        arena.say(f"{broker.name} answering after {took:.1f}s, in sync {synced:.1f}s later")


def play_leader_kill(arena: Arena) -> None:
    """kill -9 the broker leading the most request partitions; back after 20 s."""
    standard_fleet(arena)
    load = _steady_run(arena)
    load.wait_sent(RUN_REQUESTS // 3)
    leader, led = request_leaders(arena.stack.settings).most_common(1)[0]
    _kill_and_restart(arena, leader, f"leads {led} request partitions", LEADER_DOWN_S)
    _drain(arena, load)


def play_coordinator_kill(arena: Arena) -> None:
    """kill -9 the transaction coordinator of a processor's transactional id."""
    standard_fleet(arena)
    load = _steady_run(arena)
    load.wait_sent(RUN_REQUESTS // 3)
    txn_id, coordinator = processor_coordinator(arena.stack.settings)
    _kill_and_restart(arena, coordinator, f"coordinates {txn_id}", LEADER_DOWN_S)
    _drain(arena, load)


def play_rolling_restart(arena: Arena) -> None:
    """SIGTERM each broker in turn, waiting until it is back in the ISR before the next."""
    standard_fleet(arena)
    load = _steady_run(arena, per_second=4.0)  # slower: the run lasts through three restarts
    load.wait_sent(RUN_REQUESTS // 6)
    for node_id, broker in enumerate(arena.stack.brokers, start=1):
        with arena.fault(f"rolling restart: SIGTERM {broker.name}"):
            broker.server.process.stop(timeout_s=60.0)
            took = broker.start()
            synced = wait_in_sync(arena.stack.settings, node_id, SYNC_TIMEOUT_S)
            arena.say(f"{broker.name} back after {took:.1f}s, in sync {synced:.1f}s later")
    _drain(arena, load)


PROBE_TIMEOUT_MS = 15_000


def probe_publish(arena: Arena, partition: int) -> KafkaError | None:
    """Publish one record with acks=all to ``partition``; the error it was refused with."""
    settings = arena.stack.settings
    producer = Producer(
        settings.kafka_config(
            {"acks": "all", "enable.idempotence": True, "message.timeout.ms": PROBE_TIMEOUT_MS}
        )
    )
    errors: list[KafkaError | None] = []

    def delivered(error: KafkaError | None, _message: Message) -> None:
        errors.append(error)

    producer.produce(settings.topic(REQUESTS), b"probe", b"{}", partition, on_delivery=delivered)
    producer.flush(PROBE_TIMEOUT_MS / 1000 + 10)
    return errors[0] if errors else None


def play_two_brokers_down(arena: Arena) -> None:
    """kill -9 two of three brokers: a publish is refused naming the missing in-sync
    replicas instead of hanging or succeeding; one comes back after 20 s and all goes on."""
    standard_fleet(arena)
    load = _steady_run(arena)
    load.wait_sent(RUN_REQUESTS // 3)
    # The survivor is the broker leading the most request partitions: with two of three
    # controllers gone no leader can move, so only its partitions still take writes.
    survivor = request_leaders(arena.stack.settings).most_common(1)[0][0]
    first, second = (n for n in range(1, len(arena.stack.brokers) + 1) if n != survivor)
    with arena.fault(f"kill -9 kafka-{first} and kafka-{second}; kafka-{first} back after 20 s"):
        for node_id in (first, second):
            _node(arena, node_id).kill()
        time.sleep(5.0)  # the survivor shrinks its ISRs to itself
        led = _partitions_led_by(arena, survivor)
        if not led:
            raise ChaosError(f"kafka-{survivor} leads no request partition to probe")
        error = probe_publish(arena, led[0])
        if error is None:
            raise ChaosError("a publish with one of three replicas in sync succeeded")
        cause = ReplicaCheck(arena.stack.settings).explain(arena.stack.settings.topic(REQUESTS))
        if cause is None:
            raise ChaosError(f"a publish failed ({error.name()}) and nothing says why")
        arena.say(f"a publish with one replica in sync is refused: {error.name()}; {cause}")
        time.sleep(max(0.0, LEADER_DOWN_S - 5.0))
        _node(arena, first).start()
        wait_in_sync(arena.stack.settings, first, SYNC_TIMEOUT_S)
    _node(arena, second).start()
    _drain(arena, load)


def _partitions_led_by(arena: Arena, node_id: int) -> list[int]:
    settings = arena.stack.settings
    topic = settings.topic(REQUESTS)
    metadata = make_admin(settings).list_topics(topic, timeout=10)
    return [p.id for p in metadata.topics[topic].partitions.values() if p.leader == node_id]


LEADER_KILL = Scenario(
    "leader-kill",
    "3 brokers: kill -9 the leader of most request partitions at 1/3 of 300, back after 20 s",
    play_leader_kill,
    brokers=3,
)
COORDINATOR_KILL = Scenario(
    "coordinator-kill",
    "3 brokers: kill -9 a processor's transaction coordinator at 1/3 of 300, back after 20 s",
    play_coordinator_kill,
    brokers=3,
)
ROLLING_RESTART = Scenario(
    "rolling-restart",
    "3 brokers: SIGTERM each in turn, the next once it is back in sync, during 300 requests",
    play_rolling_restart,
    brokers=3,
    timeout_s=600.0,
)
TWO_BROKERS_DOWN = Scenario(
    "two-brokers-down",
    "3 brokers: two killed at 1/3 of 300; publishing is refused (too few in sync); one back",
    play_two_brokers_down,
    brokers=3,
)
