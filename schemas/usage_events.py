"""The usage events a role writes beside its outcomes, and the counters of committed ones.

Shared by the two roles that decide outcomes (the processor: failures; the image sink:
completions and results lost in transit); each builds the record with ``schemas.usage``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from diffstream.loop_contract import Output
from diffstream.settings import Settings
from diffstream.usage_metrics import UsageMeter
from schemas.codec import Codec
from schemas.event_output import event_output
from schemas.events import EventName
from schemas.topics import USAGE


class UsageEvents:
    """Makes the Output of a usage record and counts the committed ones."""

    def __init__(self, settings: Settings, codec: Codec, registry: CollectorRegistry) -> None:
        self.topic = settings.topic(USAGE)
        self.codec = codec
        self.meter = UsageMeter(settings.usage, registry)
        # The records behind the outputs made since the last commit, by their encoded value:
        # counted from here, not decoded again.
        self._pending: dict[bytes | None, Mapping[str, Any]] = {}

    def output(self, usage: Mapping[str, Any]) -> Output:
        """The usage event to produce in the outcome's transaction (keyed by request)."""
        output = event_output(self.codec, self.topic, EventName.USAGE, usage)
        self._pending[output.value] = usage
        return output

    def committed(self, outputs: Sequence[Output]) -> None:
        """Count the usage a committed transaction wrote. A role makes and commits one
        batch's outputs at a time: what is left pending was made for a dropped batch."""
        pending, self._pending = self._pending, {}
        self.meter.count(pending[o.value] for o in outputs if o.value in pending)
