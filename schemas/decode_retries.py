"""How long an event that cannot be decoded yet is read again before it is given up."""

from __future__ import annotations

import time

from confluent_kafka import Message

from diffstream.exceptions import DeferMessage
from schemas.exceptions import DecodeError

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0


class DecodeRetries:
    """Turns a transient ``DecodeError`` into a ``DeferMessage`` with a growing delay, until
    ``give_up_after_s`` has passed since the message was first met; then the caller
    dead-letters it like any undecodable event."""

    def __init__(self, give_up_after_s: float) -> None:
        self.give_up_after_s = give_up_after_s
        self._first_seen: dict[tuple[str, int, int], tuple[float, float]] = {}

    def check(self, message: Message, error: DecodeError) -> None:
        """Raise ``DeferMessage`` while the error is transient and time is left."""
        coordinates = (message.topic() or "", message.partition() or 0, message.offset() or 0)
        if not error.transient:
            return
        now = time.monotonic()
        first, delay = self._first_seen.get(coordinates, (now, FIRST_DELAY_S / 2))
        if now - first >= self.give_up_after_s:
            self._first_seen.pop(coordinates, None)
            return
        delay = min(delay * 2, MAX_DELAY_S)
        self._first_seen[coordinates] = (first, delay)
        raise DeferMessage(str(error), delay)

    def decoded(self, message: Message) -> None:
        """Forget a message that was decoded after all."""
        if self._first_seen:
            coordinates = (message.topic() or "", message.partition() or 0, message.offset() or 0)
            self._first_seen.pop(coordinates, None)
