"""What each request of a cycle becomes, decided before any GPU time.

Against the status table (``processors.ledger``) and the cycles still under way: a
request_id seen before, in this cycle or in one not committed yet (a pipelined worker
prepares the next batch before the last one commits), is a duplicate (dropped) or, with
other content, a conflict (fails alone); a request whose inference was under way when
``max_crashes`` workers died fails ``inference_crash``.
"""

from __future__ import annotations

from collections import ChainMap
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from processors.inference import Candidate, Drawn, InferenceRun
from processors.intake import Admitted, Intake, Refused, Undecodable, pinned
from processors.ledger import RequestLedger, source_key
from schemas.events import RequestState
from schemas.fingerprint import request_fingerprint

if TYPE_CHECKING:
    from processors.engine.registry import ModelLocator

_ATTEMPT_STATES = (RequestState.QUEUED, RequestState.PROCESSING)

# Decisions for an intake item.
RUN, REFUSE, DEAD_LETTER, DUPLICATE, CONFLICT, CRASHED = (
    "run",
    "refuse",
    "dead_letter",
    "duplicate",
    "conflict",
    "crashed",
)


@dataclass
class Cycle:
    """What one cycle decided for each of its messages, in order, and what it drew."""

    decisions: list[tuple[Intake, str]] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    run: InferenceRun | None = None
    # request_id -> fingerprint of what this cycle decided on.
    seen: dict[str, str] = field(default_factory=dict)
    # The accelerator stage's results and when it ran (for the finishing stage).
    drawn: list[Drawn] = field(default_factory=list)
    started: datetime | None = None
    finished: datetime | None = None


class Decisions:
    """Decides each request of a cycle; remembers the cycles under way."""

    def __init__(
        self, ledger: RequestLedger, max_crashes: int, models: ModelLocator | None = None
    ) -> None:
        self.ledger = ledger
        self.max_crashes = max_crashes
        # Each request to run is pinned to its revision (an alias resolved once, now).
        self.models = models
        self._under_way: list[Cycle] = []

    def decide(self, cycle: Cycle, items: list[Intake]) -> None:
        """Fill ``cycle``'s decisions and candidates; it is under way until ``settled``."""
        seen = ChainMap(cycle.seen, *(earlier.seen for earlier in self._under_way))
        for item in items:
            decision, crashes = self._decide(item, seen)
            cycle.decisions.append((item, decision))
            if decision == RUN:
                assert isinstance(item, Admitted)
                cycle.candidates.append(Candidate(pinned(item, self.models), crashes))
        self._under_way.append(cycle)

    def safe_ahead(self) -> bool:
        """Whether the newest cycle's attempts may be recorded before the model is free for
        it (while a pipelined worker's batch before still runs): only when no cycle under
        way holds a suspect. A worker death then counts against the next batch's requests
        too, once: they become suspects, and suspects run alone, each recorded only for its
        own pass, so a poison request cannot push an innocent neighbour to ``max_crashes``."""
        return not any(c.crashes for cycle in self._under_way for c in cycle.candidates)

    def settled(self, cycle: Cycle) -> None:
        """``cycle`` was committed or dropped."""
        self._under_way = [other for other in self._under_way if other is not cycle]

    def _decide(self, item: Intake, seen: ChainMap[str, str]) -> tuple[str, int]:
        if isinstance(item, Undecodable):
            return DEAD_LETTER, 0
        rid = str(item.request["request_id"])
        fingerprint = request_fingerprint(item.request)
        source = source_key(source_of(item))
        assert source is not None
        if rid in seen:
            return (DUPLICATE if seen[rid] == fingerprint else CONFLICT), 0
        seen[rid] = fingerprint
        known = self.ledger.get(rid)
        if known is not None and known.source not in (None, source):
            same = known.fingerprint in (None, fingerprint)
            return (DUPLICATE if same else CONFLICT), 0
        crashes = self.ledger.crashes(rid, source)
        settled = known is not None and known.state not in _ATTEMPT_STATES
        if settled and not crashes:
            return DUPLICATE, 0  # read again (offsets reset): its outcome stands
        if isinstance(item, Refused):
            return REFUSE, 0
        if crashes >= self.max_crashes:
            return CRASHED, crashes
        return RUN, crashes


def source_of(item: Admitted | Refused) -> dict[str, Any]:
    """The SourceCoordinates of an admitted or refused request."""
    if isinstance(item, Admitted):
        return item.source
    return dict(item.failed["source"])
