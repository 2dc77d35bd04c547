"""One bounded queue per webhook endpoint (scheme://host:port), so a dead one stays its own.

Every delivery to an endpoint holds a place in its queue from admission until it ends
(waiting for a connection slot, on the wire, or waiting to retry). A full queue takes no
more: the surplus is turned away at admission and dead-lettered by the caller, so a dead
endpoint holds at most ``max_queued_per_endpoint`` deliveries and never the memory, the
connection slots or the partitions the others need. The queue also remembers whether the
endpoint's last attempt failed and why, for the dead letters of what it turns away.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class _Endpoint:
    slots: asyncio.Semaphore
    queued: int = 0
    last_failure: str | None = None  # None: the last attempt worked, or none was made
    turned_away: int = 0  # deliveries refused since the queue was last below its bound


@dataclass
class EndpointQueues:
    """The queues of every endpoint with deliveries under way; used from one event loop."""

    max_queued: int
    max_concurrency: int
    _endpoints: dict[str, _Endpoint] = field(default_factory=dict)

    def admit(self, endpoint: str) -> bool:
        """Take a place in ``endpoint``'s queue; False when it is full."""
        state = self._get(endpoint)
        if state.queued >= self.max_queued:
            state.turned_away += 1
            return False
        state.queued += 1
        state.turned_away = 0
        return True

    def leave(self, endpoint: str) -> None:
        """Give back the place taken by ``admit`` (the delivery ended, however)."""
        state = self._endpoints[endpoint]
        state.queued -= 1
        if state.queued == 0:
            del self._endpoints[endpoint]  # idle: nothing worth remembering

    def slot(self, endpoint: str) -> asyncio.Semaphore:
        """The slots of ``endpoint``, held while an attempt (lookup and request) is under way."""
        return self._get(endpoint).slots

    def succeeded(self, endpoint: str) -> None:
        """An attempt got an answer that says the endpoint works."""
        self._get(endpoint).last_failure = None

    def failed(self, endpoint: str, detail: str) -> None:
        """An attempt failed in a way that says the endpoint does not work (yet)."""
        self._get(endpoint).last_failure = detail

    def queued(self, endpoint: str) -> int:
        """Deliveries ``endpoint`` holds now."""
        state = self._endpoints.get(endpoint)
        return state.queued if state else 0

    def turned_away(self, endpoint: str) -> int:
        """Deliveries ``admit`` refused since the queue last had room."""
        state = self._endpoints.get(endpoint)
        return state.turned_away if state else 0

    def last_failure(self, endpoint: str) -> str | None:
        """Why the last attempt to ``endpoint`` failed; None if it worked (or none was made)."""
        state = self._endpoints.get(endpoint)
        return state.last_failure if state else None

    def _get(self, endpoint: str) -> _Endpoint:
        state = self._endpoints.get(endpoint)
        if state is None:
            state = self._endpoints[endpoint] = _Endpoint(asyncio.Semaphore(self.max_concurrency))
        return state
