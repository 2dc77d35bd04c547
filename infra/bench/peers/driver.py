"""The open-loop driver: requests at their due times, whatever happened to earlier ones.

Every request is a task of its own on the load generator's connection pools, which have no
connection limit (a request waits for no other, so a slow system cannot slow the offered
load), bounded by the timeout from its due time. ``on_due`` runs at a chosen offset (the
kill of the kill phase) without holding up the arrivals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from infra.bench.peers.clients import Http, ImageClient, NoImageError
from infra.bench.peers.figures import Outcome, Record

REFUSED_STATUSES = frozenset({429, 503})
Body = Callable[[int], dict[str, Any]]
Tick = Callable[[Record], None]


@dataclass(frozen=True, slots=True)
class Phase:
    """Due times (seconds from the start) and the request body of each."""

    due: Sequence[float]
    body: Body
    timeout_s: float


async def drive(
    http: Http,
    client: ImageClient,
    phase: Phase,
    *,
    on_tick: Tick | None = None,
    at: tuple[float, Callable[[], Awaitable[None]]] | None = None,
) -> list[Record]:
    """Send ``phase``'s requests at their due times; one record per request, once every
    request has an outcome."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    records = [Record(due=due) for due in phase.due]

    async def one(index: int, record: Record) -> None:
        try:
            await asyncio.wait_for(client.image(http, phase.body(index)), phase.timeout_s)
            record.outcome = "ok"
        except BaseException as error:  # every failure is a figure, none stops the run
            if isinstance(error, asyncio.CancelledError):
                raise
            record.outcome, record.detail = classify(error)
        record.ended = loop.time() - start
        if on_tick is not None:
            on_tick(record)

    side: asyncio.Task[None] | None = None
    tasks = []
    for index, record in enumerate(records):
        if at is not None and side is None and record.due >= at[0]:
            side = asyncio.create_task(_after(start + at[0], at[1]))
        pause = start + record.due - loop.time()
        if pause > 0:
            await asyncio.sleep(pause)
        tasks.append(asyncio.create_task(one(index, record)))
    await asyncio.gather(*tasks)
    if side is not None:
        await side
    return records


async def _after(when: float, action: Callable[[], Awaitable[None]]) -> None:
    pause = when - asyncio.get_running_loop().time()
    if pause > 0:
        await asyncio.sleep(pause)
    await action()


def classify(error: BaseException) -> tuple[Outcome, str]:
    """The outcome of a request that raised ``error``, and a short label of why."""
    if isinstance(error, TimeoutError | httpx.TimeoutException):
        return "timeout", "timeout"
    if isinstance(error, httpx.ConnectError):
        return "refused", "connection refused"
    if isinstance(error, httpx.HTTPStatusError):
        status = error.response.status_code
        return ("refused" if status in REFUSED_STATUSES else "error"), f"HTTP {status}"
    if isinstance(error, NoImageError):
        return "error", str(error)[:80]
    return "error", type(error).__name__
