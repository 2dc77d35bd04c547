"""How a processor gathers a batch from its two lanes.

The interactive lane first; the backfill lane only while the interactive lane is idle, one
batch at a time, and paused otherwise, so a long backfill delays an interactive request by
at most one batch. A resumed partition joins the next fetch request, which waits for the
one in flight: the broker's long-poll is kept short (``FETCH_WAIT_MAX_MS``), and a resumed
backfill lane gets time for that round trip and for its committed-offset lookup on a slow
coordinator (a broker that just started): pausing again too soon starts that over, and the
lane starves. Interactive requests still return at once: they are not paused meanwhile.

Each fetch takes a little of every partition (``REQUEST_FETCH``): librdkafka queues a
response partition by partition, and with its default of 1 MB a partition's whole backlog
came before the next one's, so in a burst the requests of the partition fetched last
waited for everyone else's.
"""

from __future__ import annotations

from confluent_kafka import Message, TopicPartition

from diffstream.consuming import usable
from diffstream.exactly_once import IDLE_POLL_S
from diffstream.loop_contract import Loop
from diffstream.settings import KafkaConfig

FETCH_WAIT_MAX_MS = 50
# About seven requests of a partition per fetch (a record batch larger than this still
# comes whole); a request is ~300 bytes on the wire.
REQUEST_FETCH_BYTES = 2048
REQUEST_FETCH: KafkaConfig = {
    "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
    "max.partition.fetch.bytes": REQUEST_FETCH_BYTES,
}
BACKFILL_POLL_S = 2.0


class LaneGatherer:
    """Gathers up to ``max_batch_size`` requests, the interactive lane first."""

    def __init__(self, interactive_topic: str, batch_topic: str) -> None:
        self.interactive_topic = interactive_topic
        self.batch_topic = batch_topic

    def backfill(self, assignment: list[TopicPartition]) -> list[TopicPartition]:
        """The backfill lane's partitions of ``assignment``."""
        return [tp for tp in assignment if tp.topic == self.batch_topic]

    def gather(self, loop: Loop[object]) -> list[Message]:
        """Carried interactive requests first, then a poll of the interactive lane, then one
        batch of the backfill lane if the interactive lane had nothing."""
        consumer = loop.consumer
        assert consumer is not None
        backfill = self.backfill(consumer.assignment())
        loop.pause(backfill)
        room = loop.options.max_batch_size
        carried = loop.take_carried(room)
        if carried:
            return carried + loop.take_queued(room - len(carried), busy=True)
        messages = self._fill(loop, IDLE_POLL_S)
        if messages or not backfill:
            return messages
        loop.resume(backfill)
        try:
            return self._fill(loop, BACKFILL_POLL_S)
        finally:
            # Pausing drops what was prefetched; the position stays after what we took.
            loop.pause(backfill)

    @staticmethod
    def _fill(loop: Loop[object], wait_s: float) -> list[Message]:
        assert loop.consumer is not None
        first = loop.consumer.poll(wait_s)
        if first is None:
            return []
        batch = [first] if usable(first) else []
        return batch + loop.take_queued(loop.options.max_batch_size - len(batch))
