"""One scenario's world: settings of its own on the suite's stack, its fleet of role
processes, its publisher and its outcome reader, and the record of the faults it injects."""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diffstream.settings import (
    EngineSettings,
    ProcessorSettings,
    Settings,
    SinkSettings,
)
from infra.chaos.load import LoadPublisher
from infra.chaos.outcomes import OutcomeReader, topic_partitions
from infra.chaos.roles import Fleet
from infra.chaos.stack import ChaosStack
from infra.chaos.verdict import Expect, Fault
from infra.stack.prefixed import local_webhooks, prefixed
from schemas.prompts import DIGITS_MODEL
from schemas.topics import TOPICS

log = logging.getLogger(__name__)

# Short enough that a killed member's partitions move within seconds; the roles' defaults
# (45 s) are for fleets that should not rebalance on a slow restart.
SESSION_TIMEOUT_MS = 10_000


def scenario_settings(stack: Settings, name: str, *, models_dir: Path | None = None) -> Settings:
    """The stack's settings with topics, consumer groups and a bucket of the scenario's own,
    and every role set to run small `digits` requests on the CPU."""
    tag = f"{name}-{secrets.token_hex(3)}"
    prefix = f"chaos-{tag}."
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    bucket = f"chaos-{tag}"[:55].lower().replace("_", "-") + "-images"
    own = prefixed(
        stack,
        prefix,
        bucket,
        {
            "processor": ProcessorSettings(
                group_id=f"{prefix}processors",
                session_timeout_ms=SESSION_TIMEOUT_MS,
            ),
            "engine": EngineSettings(
                device="cpu",
                preload=(DIGITS_MODEL,),
                warmup=False,
                # Two processors share two cores with the broker, MinIO and the sinks.
                cpu_threads=1,
                models_dir=models_dir,
            ),
            "sink": SinkSettings(
                group_id=f"{prefix}image-sink",
                session_timeout_ms=SESSION_TIMEOUT_MS,
                retry_initial_s=0.2,
                retry_max_s=2.0,
            ),
            "webhooks": local_webhooks(
                prefix,
                secret,
                initial_backoff_s=0.2,
                max_backoff_s=2.0,
                session_timeout_ms=SESSION_TIMEOUT_MS,
            ),
        },
    )
    # Roles and readers subscribe at once: every topic must be in the broker's metadata.
    topic_partitions(own, [own.topic(spec.name) for spec in TOPICS])
    return own


@dataclass(slots=True)
class Check:
    """A scenario's own pass condition (e.g. how fast the live webhook arrived)."""

    name: str
    passed: bool
    detail: str


@dataclass
class Arena:
    """What a scenario works with; the runner builds it and judges it afterwards."""

    stack: ChaosStack
    settings: Settings
    fleet: Fleet
    publisher: LoadPublisher
    outcomes: OutcomeReader
    log_dir: Path
    say: Callable[[str], None]
    expected: dict[str, Expect] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Exits of role processes the scenario expects (a request that kills its process).
    allowed_exits: int = 0
    records_published: int = 0

    def expect(self, records: list[dict[str, Any]], outcome: Expect) -> list[dict[str, Any]]:
        """Note what ``records`` must end as; returns them, for publishing."""
        for record in records:
            self.expected[str(record["request_id"])] = outcome
        self.records_published += len(records)
        return records

    def in_flight(self) -> frozenset[str]:
        """Requests acknowledged by the broker that have no outcome yet."""
        published = self.publisher.request_ids()
        return frozenset(r for r in published if not self.outcomes.of(r))

    @contextmanager
    def fault(self, name: str) -> Iterator[None]:
        """Record a fault: injected on entry, healed on exit, what was in flight then."""
        injected, pending = time.monotonic(), self.in_flight()
        self.say(f"fault: {name} ({len(pending)} requests in flight)")
        try:
            yield
        finally:
            healed = time.monotonic()
            self.faults.append(Fault(name, injected, healed, pending))
            self.say(f"healed: {name} after {healed - injected:.1f}s")

    def wait_outcomes(self, timeout_s: float) -> bool:
        """Wait until every expected request has an outcome; False at the timeout."""
        done = self.outcomes.wait_for(self.expected, timeout_s)
        if not done:
            waiting = len(self.expected) - self.outcomes.count_done(self.expected)
            self.say(f"gave up waiting after {timeout_s:.0f}s: {waiting} without an outcome")
        return done
