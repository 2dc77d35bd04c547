"""Which offsets may be committed when work finishes out of order (at-least-once).

Messages of a partition are handed out in offset order but their deliveries finish in any
order; the committable offset is the smallest unfinished one (or the one after the last
handed out, when none is unfinished), so a crash redoes at most the unfinished ones (and
some finished after them), never skips one.

Only unfinished offsets are remembered: a delivery retried for hours behind which a
partition's later events keep being delivered costs one entry, not one per later event.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

TopicPartitionKey = tuple[str, int]


@dataclass
class _Partition:
    epoch: int = 0
    # Unfinished offsets in the order they were added, which is offset order: the first is
    # the smallest (O(1) to find and to remove any of them).
    unfinished: OrderedDict[int, None] = field(default_factory=OrderedDict)
    next_offset: int = 0  # the one after the last handed out


class OffsetTracker:
    """Offsets under way per partition, with an epoch that changes when a partition is lost."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartitionKey, _Partition] = {}
        self._committable: dict[TopicPartitionKey, int] = {}

    def add(self, tp: TopicPartitionKey, offset: int) -> int:
        """Track ``offset`` as under way; returns the partition's epoch, for ``done``.

        A partition's offsets come in increasing order, as a consumer hands them out (after
        a rewind, ``forget`` the partition first)."""
        state = self._partitions.setdefault(tp, _Partition())
        state.unfinished[offset] = None
        state.next_offset = max(offset + 1, state.next_offset)
        return state.epoch

    def done(self, tp: TopicPartitionKey, offset: int, epoch: int) -> None:
        """Mark ``offset`` finished; ignored if the partition was lost since ``add``."""
        state = self._partitions.get(tp)
        if state is None or state.epoch != epoch or offset not in state.unfinished:
            return
        oldest = next(iter(state.unfinished))
        del state.unfinished[offset]
        if offset != oldest:
            return  # an older one is still under way: the commit point stays
        self._committable[tp] = (
            next(iter(state.unfinished)) if state.unfinished else state.next_offset
        )

    def in_flight(self) -> int:
        """Offsets added and not yet done, over every partition."""
        return sum(len(state.unfinished) for state in self._partitions.values())

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
        old = self._partitions.get(tp)
        self._partitions[tp] = _Partition(epoch=(old.epoch + 1) if old else 1)
        self._committable.pop(tp, None)
