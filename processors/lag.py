"""The processor's lag gauge per lane, measured on the polling thread without blocking it."""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import Gauge

log = logging.getLogger(__name__)

LAG_EVERY_S = 2.0


class LaneLag:
    """Requests waiting per lane: the high watermark less where reading stands."""

    def __init__(self, batch_topic: str, gauge: Gauge) -> None:
        self.batch_topic = batch_topic
        self.gauge = gauge
        self._last_check = 0.0
        # Committed offsets of partitions not read from since they were assigned.
        self._idle_committed: dict[tuple[str, int], int] = {}

    def reassigned(self) -> None:
        """A rebalance: committed offsets asked for before may have moved."""
        self._idle_committed.clear()

    def report(self, consumer: Consumer) -> None:
        """Set the gauge, at most every LAG_EVERY_S."""
        now = time.monotonic()
        if now - self._last_check < LAG_EVERY_S:
            return
        self._last_check = now
        lag = {"interactive": 0, "batch": 0}
        try:
            for tp in consumer.position(consumer.assignment()):
                # From the last fetch response: asking the broker would wait behind the
                # fetch long-poll, for every partition, on the processing loop.
                _, high = consumer.get_watermark_offsets(tp, cached=True)
                lane = "batch" if tp.topic == self.batch_topic else "interactive"
                lag[lane] += max(high - self._read_up_to(consumer, tp), 0)
        except KafkaException as exc:
            log.debug("lag not measured: %s", exc)
            return
        for lane, waiting in lag.items():
            self.gauge.labels(lane).set(waiting)

    def _read_up_to(self, consumer: Consumer, tp: TopicPartition) -> int:
        """Where the partition's reading stands: the position, or (nothing read from it
        since it was assigned, so no position yet) the group's committed offset, asked for
        once per assignment. Counting such a partition from 0 made an idle processor report
        its whole history as lag."""
        if tp.offset >= 0:
            return int(tp.offset)
        key = (tp.topic, tp.partition)
        if key not in self._idle_committed:
            (committed,) = consumer.committed([TopicPartition(tp.topic, tp.partition)], 5)
            self._idle_committed[key] = max(committed.offset, 0)
        return self._idle_committed[key]
