"""One bounded queue per webhook endpoint (scheme://host:port), so a dead one stays its own.

Every delivery to an endpoint holds a place in its queue from admission until it ends
(waiting for a connection slot, on the wire, or waiting to retry). While the endpoint is
healthy (nothing failed since its last success, or it was never tried) it takes every
delivery: a burst to a live receiver is never dropped, only the notifier-wide
``max_in_flight`` bounds it. Once an attempt to it failed, the endpoint is failing until an
attempt succeeds, and it takes no more than ``max_queued_per_endpoint``; the surplus is
refused at admission and dead-lettered by the caller. So a dead endpoint holds at most its
bound (plus what it took in before its first failure came back, at most one timeout's
worth) and never the memory, the slots or the partitions of the others.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class _Endpoint:
    slots: asyncio.Semaphore
    queued: int = 0
    failing: bool = False
    consecutive_failures: int = 0
    turned_away: int = 0  # deliveries refused since the endpoint began failing


@dataclass
class EndpointQueues:
    """The queues of every endpoint seen; used from one event loop."""

    max_queued: int
    max_concurrency: int
    _endpoints: dict[str, _Endpoint] = field(default_factory=dict)

    def admit(self, endpoint: str) -> bool:
        """Take a place in ``endpoint``'s queue; False if it is failing and full."""
        state = self._get(endpoint)
        if state.failing and state.queued >= self.max_queued:
            state.turned_away += 1
            return False
        state.queued += 1
        return True

    def leave(self, endpoint: str) -> None:
        """Give back the place taken by ``admit`` (the delivery ended, however)."""
        state = self._endpoints[endpoint]
        state.queued -= 1
        if state.queued == 0 and not state.failing:
            del self._endpoints[endpoint]  # healthy and idle: nothing to remember

    def slot(self, endpoint: str) -> asyncio.Semaphore:
        """The connection slots of ``endpoint`` (held only while an attempt is on the wire)."""
        return self._get(endpoint).slots

    def succeeded(self, endpoint: str) -> None:
        """An attempt got an answer that says the endpoint works: it is healthy again."""
        state = self._get(endpoint)
        state.failing, state.consecutive_failures, state.turned_away = False, 0, 0

    def failed(self, endpoint: str) -> None:
        """An attempt failed in a way that says the endpoint does not work (yet)."""
        state = self._get(endpoint)
        state.failing = True
        state.consecutive_failures += 1

    def queued(self, endpoint: str) -> int:
        """Deliveries ``endpoint`` holds now."""
        state = self._endpoints.get(endpoint)
        return state.queued if state else 0

    def turned_away(self, endpoint: str) -> int:
        """Deliveries ``admit`` refused since ``endpoint`` last worked."""
        state = self._endpoints.get(endpoint)
        return state.turned_away if state else 0

    def is_failing(self, endpoint: str) -> bool:
        """Whether the last attempt to ``endpoint`` failed."""
        state = self._endpoints.get(endpoint)
        return state.failing if state else False

    def _get(self, endpoint: str) -> _Endpoint:
        state = self._endpoints.get(endpoint)
        if state is None:
            state = self._endpoints[endpoint] = _Endpoint(asyncio.Semaphore(self.max_concurrency))
        return state
