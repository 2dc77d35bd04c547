"""The set of cancelled request ids, read as a table from the compacted cancellations topic."""

from __future__ import annotations

import logging
import threading

from confluent_kafka import Message

from diffstream.settings import Settings
from diffstream.tables import TableView
from schemas.codec import Codec
from schemas.events import EventName
from schemas.exceptions import DecodeError
from schemas.topics import CANCELLATIONS

log = logging.getLogger(__name__)


class CancellationView(TableView):
    """Every cancel read from ``diffusion.cancellations``. A cancel that arrives after
    inference began is too late."""

    def __init__(self, settings: Settings, codec: Codec) -> None:
        self._codec = codec
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        super().__init__(settings, settings.topic(CANCELLATIONS), name="cancellations")

    def __contains__(self, request_id: object) -> bool:
        with self._lock:
            return str(request_id) in self._cancelled

    def is_cancelled(self, request_id: str) -> bool:
        """Whether a cancel for ``request_id`` has been read."""
        return request_id in self

    def _read(self, message: Message) -> None:
        value, key = message.value(), message.key()
        if value is None:  # a tombstone withdraws the cancel
            if key is not None:
                with self._lock:
                    self._cancelled.discard(key.decode(errors="replace"))
            return
        try:
            decoded = self._codec.decode(value, expected=EventName.CANCEL, topic=message.topic())
        except DecodeError as error:
            log.warning("ignoring a bad cancel event: %s", error)
            return
        with self._lock:
            self._cancelled.add(str(decoded.value["request_id"]))
