"""One request's status webhooks one after another, in the order they were handed in.

Status events of a request share its key, so they come from one partition in offset order;
the notifier hands them to the delivery loop in that order, and each must end (delivered,
given up, refused ...) before the next is sent, or a retried ``processing`` could arrive
after ``completed``. Only deliveries of the same key wait for each other: one request's
retries hold back neither other requests nor other endpoints. A turn is taken without
awaiting anything, so turns are granted in the order the deliveries started on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class Sequences:
    """The last turn taken per key; used from one event loop."""

    _tails: dict[str, asyncio.Event] = field(default_factory=dict)

    @asynccontextmanager
    async def turn(self, key: str | None) -> AsyncIterator[None]:
        """Wait until every earlier turn of ``key`` ended (None: no waiting), hold it for the
        block. A turn ends however its block ends, cancellation included."""
        if key is None:
            yield
            return
        previous = self._tails.get(key)
        mine = self._tails[key] = asyncio.Event()
        try:
            if previous is not None:
                # An Event, not the earlier task: cancelling this waiter cancels nothing else.
                await previous.wait()
            yield
        finally:
            mine.set()
            if self._tails.get(key) is mine:
                del self._tails[key]  # the last of its key: nothing left to wait for

    def waiting(self) -> int:
        """Keys with a turn under way (for tests and a bounded-memory check)."""
        return len(self._tails)
