"""Which offsets may be committed when work finishes out of order (at-least-once).

Messages of a partition are handed out in offset order but their deliveries finish in any
order; the committable offset is the one after the longest finished prefix, so a crash
redoes at most the unfinished ones (and some finished after them), never skips one.
"""

from __future__ import annotations

from collections import OrderedDict

TopicPartitionKey = tuple[str, int]


class OffsetTracker:
    """Offsets under way per partition, with an epoch that changes when a partition is lost."""

    def __init__(self) -> None:
        self._pending: dict[TopicPartitionKey, OrderedDict[int, bool]] = {}
        self._epochs: dict[TopicPartitionKey, int] = {}
        self._committable: dict[TopicPartitionKey, int] = {}

    def add(self, tp: TopicPartitionKey, offset: int) -> int:
        """Track ``offset`` as under way; returns the partition's epoch, for ``done``."""
        self._pending.setdefault(tp, OrderedDict())[offset] = False
        return self._epochs.setdefault(tp, 0)

    def done(self, tp: TopicPartitionKey, offset: int, epoch: int) -> None:
        """Mark ``offset`` finished; ignored if the partition was lost since ``add``."""
        if self._epochs.get(tp) != epoch or offset not in self._pending.get(tp, {}):
            return
        pending = self._pending[tp]
        pending[offset] = True
        while pending and pending[next(iter(pending))]:
            finished, _ = pending.popitem(last=False)
            self._committable[tp] = finished + 1

    def in_flight(self) -> int:
        """Offsets added and not yet done, over every partition."""
        return sum(not done for pending in self._pending.values() for done in pending.values())

    def committable(
        self, only: set[TopicPartitionKey] | None = None
    ) -> dict[TopicPartitionKey, int]:
        """Offsets ready to commit (optionally for some partitions only)."""
        return {tp: o for tp, o in self._committable.items() if only is None or tp in only}

    def committed(self, offsets: dict[TopicPartitionKey, int]) -> None:
        """``offsets`` were committed: stop offering them (unless they moved on since)."""
        for tp, offset in offsets.items():
            if self._committable.get(tp) == offset:
                del self._committable[tp]

    def forget(self, tp: TopicPartitionKey) -> None:
        """The partition is no longer ours: drop what is under way, bump its epoch."""
        self._pending.pop(tp, None)
        self._committable.pop(tp, None)
        self._epochs[tp] = self._epochs.get(tp, 0) + 1
