"""Results deleted by retention before the image sink stored them: never silence.

When the sink's committed offset on a results partition is below that partition's first
retained offset, the results in between were deleted unread (the object store was down, or
the sinks too slow, for longer than ``retention.ms``). Their request_ids are gone with them,
but the status topic still says ``generated`` for each: every request still ``generated``
and older than the oldest result any partition retains (less ``CUTOFF_MARGIN_S``) was
certainly lost, and gets a GenerationFailed ``expired_in_transit`` with a ``failed`` status.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import (
    OFFSET_INVALID,
    TIMESTAMP_NOT_AVAILABLE,
    KafkaException,
    Message,
    TopicPartition,
)

from diffstream.kafka import make_consumer
from diffstream.settings import Settings
from diffstream.tables import CompactedTable
from schemas.builders import new_failed, now_millis
from schemas.codec import Codec
from schemas.events import ErrorCode, EventName, RequestState
from schemas.exceptions import DecodeError
from schemas.topics import STATUS

log = logging.getLogger(__name__)

READ_STATUS_TIMEOUT_S = 120.0
# A processor builds a request's ``generated`` status a moment before its result is
# produced (within its transaction): requests this close to the oldest retained result are
# not judged lost, since theirs may be that very result.
CUTOFF_MARGIN_S = 300.0


def deleted_unread(
    settings: Settings, group_id: str, partitions: list[TopicPartition]
) -> list[TopicPartition]:
    """The partitions whose committed offset (of ``group_id``; none counts as 0) is below
    their first retained one. Asked by a consumer of its own, which never joins the group:
    the sink's own would answer only after its fetch long-poll, partition by partition."""
    gaps: list[TopicPartition] = []
    consumer = make_consumer(settings, {"group.id": group_id, "enable.auto.commit": False})
    try:
        for tp in consumer.committed(partitions, timeout=10):
            low, _ = consumer.get_watermark_offsets(tp, timeout=10)
            # Nothing committed yet and history gone: lost just the same.
            start = 0 if tp.offset == OFFSET_INVALID else tp.offset
            if 0 <= start < low:
                gaps.append(TopicPartition(tp.topic, tp.partition, low))
    except KafkaException as exc:
        log.warning("could not check for results deleted by retention: %s", exc)
    finally:
        consumer.close()
    return gaps


def oldest_retained(settings: Settings, topic: str) -> datetime:
    """The time of the oldest result any partition of ``topic`` still holds (now if none):
    every result written before it is gone."""
    consumer = make_consumer(
        settings, {"group.id": f"diffstream-retention-{uuid.uuid4()}", "enable.auto.commit": False}
    )
    oldest = datetime.now(UTC)
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        for partition in metadata.partitions:
            tp = TopicPartition(topic, partition)
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            if low >= high:
                continue
            consumer.assign([TopicPartition(topic, partition, low)])
            message = consumer.poll(10)
            if message is not None and message.error() is None:
                kind, millis = message.timestamp()
                if kind != TIMESTAMP_NOT_AVAILABLE:
                    oldest = min(oldest, datetime.fromtimestamp(millis / 1000, UTC))
    finally:
        consumer.close()
    return oldest


def lost_requests(settings: Settings, codec: Codec, before: datetime) -> list[dict[str, Any]]:
    """The latest status of every request still ``generated`` and updated before ``before``."""
    generated: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()

    def apply(message: Message) -> None:
        key = (message.key() or b"").decode(errors="replace")
        value = message.value()
        if value is None:
            with lock:
                generated.pop(key, None)
            return
        try:
            status = codec.decode(value, expected=EventName.STATUS).value
        except DecodeError:
            return
        with lock:
            if status["state"] == RequestState.GENERATED:
                generated[key] = status
            else:
                generated.pop(key, None)

    table = CompactedTable(settings, settings.topic(STATUS), apply, name="lost-results")
    table.start()
    try:
        if not table.caught_up.wait(READ_STATUS_TIMEOUT_S):
            log.error("status topic not read within %.0fs", READ_STATUS_TIMEOUT_S)
    finally:
        table.stop()
    cutoff = before.astimezone(UTC) - timedelta(seconds=CUTOFF_MARGIN_S)
    return [s for s in generated.values() if s["updated_at"].astimezone(UTC) < cutoff]


def expired_in_transit(status: dict[str, Any], retention_s: float) -> dict[str, Any]:
    """The GenerationFailed of a request whose result was deleted before it was stored."""
    return new_failed(
        status["request_id"],
        ErrorCode.EXPIRED_IN_TRANSIT,
        f"the generated images were deleted from the results topic (retention {retention_s:.0f}s)"
        " before the image sink stored them; publish the request again",
        retryable=True,
        attempt=int(status.get("attempt") or 1),
        model=status.get("model"),
        source=status.get("source"),
    )


def failed_status(status: dict[str, Any], failed: dict[str, Any]) -> dict[str, Any]:
    """The ``failed`` RequestStatus that follows ``expired_in_transit``."""
    return {
        **status,
        "state": str(RequestState.FAILED),
        "updated_at": now_millis(),
        "error_code": failed["error_code"],
        "message": failed["message"],
        "image_uris": [],
    }
