"""``Prefer: wait=N`` (RFC 7240): a submit that answers with the outcome when it comes
within N seconds, for clients that would rather not follow the event stream."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from producers.gateway.bodies import InvalidBody
from producers.gateway.generation import Generation
from producers.gateway.view import GenerationView
from schemas.exceptions import FieldError

FIELD = "Prefer"
LIMIT_VARIABLE = "DIFFSTREAM_GATEWAY__MAX_WAIT_S"
# Set on a request's state while its submit waits for the outcome.
_HELD = "held_for_outcome"


def hold(request: Request) -> None:
    """Mark ``request`` as waiting for its outcome: it takes as long as the model does,
    which is not the gateway's time (see ``was_held``)."""
    setattr(request.state, _HELD, True)


def was_held(scope: Mapping[str, Any]) -> bool:
    """Whether the request of this ASGI ``scope`` waited for its outcome."""
    return bool(scope.get("state", {}).get(_HELD, False))


def requested_wait_s(prefer: str | None, max_wait_s: float) -> float | None:
    """The seconds a ``Prefer`` header asks to wait (None: it does not ask); a wait that is
    not a number, or above ``max_wait_s``, is an ``InvalidBody`` naming the header."""
    if not prefer:
        return None
    for preference in prefer.split(","):
        token, _, value = preference.split(";")[0].strip().partition("=")
        if token.strip().lower() != "wait":
            continue  # other preferences are not ours to refuse
        text = value.strip().strip('"')
        try:
            seconds = float(text)
        except ValueError:
            seconds = math.nan
        if not 0 <= seconds <= max_wait_s:  # also NaN and infinities
            problem = (
                f"Prefer: wait={text or '(empty)'} is not a number of seconds from 0 to "
                f"{max_wait_s:g} (the limit is {LIMIT_VARIABLE}): send a shorter wait, or "
                "follow events_url"
            )
            raise InvalidBody([FieldError(FIELD, text, max_wait_s, problem)])
        return seconds
    return None


async def until_terminal(view: GenerationView, item: Generation, timeout_s: float) -> bool:
    """Wait until ``item`` has ended or ``timeout_s`` passed; whether it has ended."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not item.terminal:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        wake = view.wake_event(item.request_id)  # set on the loop: no change is missed
        try:
            await asyncio.wait_for(wake.wait(), remaining)
        except TimeoutError:
            return item.terminal
    return True
