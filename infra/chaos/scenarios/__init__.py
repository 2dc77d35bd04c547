"""The suite's scenarios, in the order they run; `diffstream chaos --only NAME` picks some."""

from __future__ import annotations

from infra.chaos.scenario import Scenario
from infra.chaos.scenarios.faults import BROKER_RESTART, CONSUMER_CHURN, MINIO_OUTAGE, ROLE_KILLS
from infra.chaos.scenarios.replicated import (
    COORDINATOR_KILL,
    LEADER_KILL,
    ROLLING_RESTART,
    TWO_BROKERS_DOWN,
)
from infra.chaos.scenarios.requests import (
    CRASHING_REQUEST,
    DEAD_WEBHOOKS,
    DUPLICATES_AND_NEIGHBOURS,
)

SCENARIOS: tuple[Scenario, ...] = (
    ROLE_KILLS,
    CONSUMER_CHURN,
    BROKER_RESTART,
    MINIO_OUTAGE,
    CRASHING_REQUEST,
    DUPLICATES_AND_NEIGHBOURS,
    DEAD_WEBHOOKS,
    LEADER_KILL,
    COORDINATOR_KILL,
    ROLLING_RESTART,
    TWO_BROKERS_DOWN,
)
