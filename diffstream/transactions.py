"""One batch's transaction: outputs and offsets committed together, never blocking for ever.

The calls that talk to a coordinator run on a daemon thread of their own, so that one
stuck in librdkafka (issues #5456, #5511: send_offsets_to_transaction after the group
coordinator went away) is left behind and reported as ``StuckClientError``; the loop then
makes new clients under the same transactional id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from diffstream.bounded_call import call_within
from diffstream.exceptions import DroppedBatch, StuckClientError
from diffstream.loop_contract import Output

log = logging.getLogger(__name__)

COMMIT_RETRIES = 5
COMMIT_TIMEOUT_S = 60.0
OFFSETS_TIMEOUT_S = 10.0
# Beyond its own timeout, how long a transactional call may block before the loop stops
# waiting and makes new clients.
STUCK_GRACE_S = 5.0


class Transactions:
    """Commits a role's batches through its transactional producer."""

    def __init__(self, role: str) -> None:
        self._role = role

    def commit(
        self,
        producer: Producer,
        consumer: Consumer,
        outputs: Sequence[Output],
        offsets: list[TopicPartition],
    ) -> None:
        """``outputs`` and ``offsets`` in one transaction. An abortable failure raises
        ``DroppedBatch``; a fatal one (fenced, broken producer) propagates."""
        try:
            producer.begin_transaction()
            for output in outputs:
                producer.produce(output.topic, output.value, output.key, headers=output.headers)
            metadata = consumer.consumer_group_metadata()
            self._bounded(
                lambda: producer.send_offsets_to_transaction(offsets, metadata, OFFSETS_TIMEOUT_S),
                OFFSETS_TIMEOUT_S,
            )
            self._bounded(lambda: _commit_retrying(producer), COMMIT_TIMEOUT_S * COMMIT_RETRIES)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if not error.txn_requires_abort():
                raise
            log.warning("transaction failed, aborting: %s", error)
            producer.abort_transaction(30)
            raise DroppedBatch(str(error)) from exc

    def _bounded(self, call: Callable[[], None], timeout_s: float) -> None:
        """Run ``call``, giving up on it (and on these clients) when it outlives its own
        timeout by ``STUCK_GRACE_S``."""
        try:
            call_within(call, timeout_s + STUCK_GRACE_S, name=f"{self._role}-txn")
        except TimeoutError:
            # The blocked thread cannot be interrupted: leave it (and these clients) behind.
            raise StuckClientError(
                f"a transactional call did not return within {timeout_s + STUCK_GRACE_S:.0f}s"
            ) from None


def _commit_retrying(producer: Producer) -> None:
    for attempt in range(1, COMMIT_RETRIES + 1):
        try:
            producer.commit_transaction(COMMIT_TIMEOUT_S)
            return
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if not error.retriable() or attempt == COMMIT_RETRIES:
                raise
            log.info("commit not acknowledged yet (attempt %d): %s", attempt, error)
