"""Faults of the machinery under a steady 300-request run: role processes killed, a
consumer group churning, the broker killed, the object store down."""

from __future__ import annotations

import time

from infra.chaos.arena import Arena
from infra.chaos.load import LoadRun, digits_request
from infra.chaos.roles import processor
from infra.chaos.scenario import Scenario, standard_fleet
from infra.chaos.verdict import COMPLETES

RUN_REQUESTS = 300
# Well below what two processors do on 2 cores, so that only the work under way is in
# flight when a fault hits.
RATE_PER_S = 8.0
DRAIN_TIMEOUT_S = 180.0


def _steady_run(arena: Arena, per_second: float = RATE_PER_S) -> LoadRun:
    records = arena.expect([digits_request(i) for i in range(RUN_REQUESTS)], COMPLETES)
    arena.say(f"publishing {len(records)} requests at {per_second:g}/s")
    return LoadRun(arena.publisher, records, per_second)


def _drain(arena: Arena, load: LoadRun) -> None:
    load.join()
    arena.say("published; waiting for every outcome")
    arena.wait_outcomes(DRAIN_TIMEOUT_S)


def play_role_kills(arena: Arena) -> None:
    """kill -9 a processor, the image sink, then the other processor, at a quarter, half
    and three quarters of the run; each is started again at once, as a pod would be."""
    standard_fleet(arena)
    # Slower, so that a killed role is back before the next kill on a busy machine.
    load = _steady_run(arena, per_second=5.0)
    for fraction, role in ((0.25, "processor-1"), (0.5, "image-sink-1"), (0.75, "processor-2")):
        load.wait_sent(int(RUN_REQUESTS * fraction))
        with arena.fault(f"kill -9 {role}"):
            arena.fleet.kill(role)  # the supervisor starts it again meanwhile
    _drain(arena, load)


CHURN_CYCLES = 5
# A busy machine loads torch slowly: a churning member that is not up by then still joins.
JOIN_TIMEOUT_S = 60.0


def play_consumer_churn(arena: Arena) -> None:
    """A third processor joins and leaves (SIGTERM) five times while requests flow."""
    standard_fleet(arena)
    # Slower, so that the run lasts through five joins and leaves (about 12 s each).
    load = _steady_run(arena, per_second=3.0)
    extra = processor(3)
    for cycle in range(1, CHURN_CYCLES + 1):
        with arena.fault(f"processor-3 joins and leaves ({cycle}/{CHURN_CYCLES})"):
            arena.fleet.start(extra)
            arena.fleet.wait_ready([extra.name], timeout_s=JOIN_TIMEOUT_S)
            time.sleep(8.0)  # long enough to be given partitions and work on some
            arena.fleet.stop(extra.name)
    _drain(arena, load)


BROKER_DOWN_S = 5.0


def play_broker_restart(arena: Arena) -> None:
    """kill -9 the broker mid-run and start it again 5 s later; every role must ride
    through it in place (a role the harness has to restart fails the scenario)."""
    standard_fleet(arena)
    load = _steady_run(arena)
    load.wait_sent(RUN_REQUESTS // 2)
    broker = arena.stack.brokers[0]
    with arena.fault(f"kill -9 the broker, started again after {BROKER_DOWN_S:g}s"):
        broker.kill()
        time.sleep(BROKER_DOWN_S)
        took = broker.start()
        arena.say(f"broker answering again {took:.1f}s after its start")
    _drain(arena, load)


MINIO_DOWN_S = 30.0


def play_minio_outage(arena: Arena) -> None:
    """kill -9 MinIO mid-run and start it again 30 s later."""
    standard_fleet(arena)
    load = _steady_run(arena)
    load.wait_sent(RUN_REQUESTS // 3)
    store = arena.stack.object_store
    with arena.fault(f"MinIO down for {MINIO_DOWN_S:g}s"):
        store.kill()
        time.sleep(MINIO_DOWN_S)
        store.start()
    _drain(arena, load)


ROLE_KILLS = Scenario(
    "role-kills",
    "kill -9 processor-1, the image sink, processor-2 at 1/4, 1/2, 3/4 of 300 requests",
    play_role_kills,
)
CONSUMER_CHURN = Scenario(
    "consumer-churn",
    "a third processor joins and leaves 5 times during 300 requests",
    play_consumer_churn,
)
BROKER_RESTART = Scenario(
    "broker-restart",
    "kill -9 the broker at 1/2 of 300 requests, started again after 5 s; no role restarted",
    play_broker_restart,
)
MINIO_OUTAGE = Scenario(
    "minio-outage",
    "MinIO killed at 1/3 of 300 requests, started again after 30 s",
    play_minio_outage,
)
