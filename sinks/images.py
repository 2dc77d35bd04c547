"""`diffstream sink images`: results into the object store, then one completed event each.

For every GenerationResult read from ``diffusion.results`` (read_committed) each image is PUT
under a key derived from the request, then a GenerationCompleted and a RequestStatus
``completed`` are produced in one transaction with the consumed offsets: a role of the
exactly-once loop (``diffstream.exactly_once``). While the object store is unavailable the
batch is retried with backoff while the consumer keeps polling, so it stays in its group;
nothing is committed until it is stored. Results must be stored before the results topic's
retention deletes them: the age of the oldest unstored result is a metric, and a loud log
line past ``RETENTION_WARNING_RATIO`` of the retention.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message, TopicPartition
from prometheus_client import CollectorRegistry

from diffstream import tracing
from diffstream.consuming import partition_names
from diffstream.exactly_once import ExactlyOnceLoop
from diffstream.health import Health
from diffstream.identity import claim_instance_id
from diffstream.loop_contract import Admission, Loop, LoopOptions, Output
from diffstream.settings import Settings
from schemas.builders import new_completed, new_status, now_millis, stored_image
from schemas.codec import Codec
from schemas.decode_retries import DecodeRetries
from schemas.dlq import coordinates, dead_letter
from schemas.event_output import event_output
from schemas.events import EventName, RequestState
from schemas.exceptions import DecodeError
from schemas.topics import COMPLETED, DLQ, FAILED, RESULTS, STATUS, retention_ms
from schemas.usage import completed_usage, failed_usage, lane_of
from schemas.usage_events import UsageEvents
from sinks.exceptions import StorageUnavailableError
from sinks.image_urls import ImageUrls
from sinks.metrics import ImageSinkMetrics
from sinks.retention import (
    deleted_unread,
    expired_in_transit,
    failed_status,
    lost_requests,
    oldest_retained,
)
from sinks.storage import ImageStore, StoredObject, object_key, object_metadata
from sinks.tracing import storage_spans

log = logging.getLogger(__name__)

ROLE = "image-sink"


class ImageSink:
    """One member of the image sinks' consumer group (a role of the exactly-once loop)."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: ImageStore | None = None,
        registry: CollectorRegistry | None = None,
        codec: Codec | None = None,
    ) -> None:
        self.settings = settings
        self.config = settings.sink
        self.codec = codec or Codec(settings)
        registry = registry or CollectorRegistry()
        self.metrics = ImageSinkMetrics.create(registry)
        # Completions and results lost in transit are metered here, in their transaction.
        self.usage = UsageEvents(settings, self.codec, registry)
        self.store = store or ImageStore(settings)
        self.urls = ImageUrls(settings)
        self._claim = claim_instance_id(ROLE, settings.home, self.config.instance_id)
        self.instance_id = self._claim.instance_id
        self._tracer = tracing.tracer(ROLE, self.instance_id)
        self._puts = ThreadPoolExecutor(self.config.put_concurrency, thread_name_prefix="put")
        self._decode_retries = DecodeRetries(self.config.decode_retry_s)
        self._retention_s = retention_ms(RESULTS) / 1000
        self.retries = 0  # batches retried while the object store was unavailable
        self._assigned: list[TopicPartition] = []
        self.health = Health()
        self.loop: ExactlyOnceLoop[list[Admission]] = ExactlyOnceLoop(
            settings,
            LoopOptions.of(
                ROLE,
                self.instance_id,
                [settings.topic(RESULTS)],
                self.config,
                retry_initial_s=self.config.retry_initial_s,
                retry_max_s=self.config.retry_max_s,
                consumer_overrides={
                    # Results carry image bytes: let one fetch hold the largest of them.
                    "fetch.max.bytes": 128 * 1024 * 1024,
                    "max.partition.fetch.bytes": 64 * 1024 * 1024,
                },
            ),
            self,
        )

    @property
    def batches(self) -> int:
        """Batches taken so far."""
        return self.loop.cycles

    def run(self, stop: threading.Event) -> None:
        """Check the bucket, then consume and store until ``stop`` is set."""
        try:
            self.setup(stop)
            self.loop.run(stop)
        finally:
            self.health.stopped()
            self._puts.shutdown(wait=True, cancel_futures=True)
            self._claim.release()

    def setup(self, stop: threading.Event) -> None:
        """Check (or create) the bucket, waiting out an unreachable object store."""
        delay = self.config.retry_initial_s
        while not stop.is_set():
            try:
                self.store.check_bucket()
                return
            except StorageUnavailableError as error:
                log.warning("object store not ready, retrying in %.1fs: %s", delay, error)
                stop.wait(delay)
                delay = min(delay * 2, self.config.retry_max_s)

    # -- the loop's hooks -----------------------------------------------------------------

    def gather(self, loop: Loop[list[Admission]]) -> list[Message]:
        """What was carried or is queued, up to ``MAX_BATCH_SIZE`` results (first, after an
        assignment, a failed event for each result deleted before it was stored)."""
        if self._assigned:
            partitions, self._assigned = self._assigned, []
            self._fail_deleted_results(loop, partitions)
        return loop.fill()

    def _fail_deleted_results(
        self, loop: Loop[list[Admission]], partitions: list[TopicPartition]
    ) -> None:
        gaps = deleted_unread(self.settings, self.config.group_id, partitions)
        if not gaps:
            return
        cutoff = oldest_retained(self.settings, self.settings.topic(RESULTS))
        lost = lost_requests(self.settings, self.codec, cutoff)
        log.error(
            "results deleted by retention before they were stored (%s): %d requests fail "
            "expired_in_transit; keep the sinks and the object store up, or raise the results "
            "topic's retention.ms",
            partition_names(gaps),
            len(lost),
        )
        outputs: list[Output] = []
        for status in lost:
            failed = expired_in_transit(status, self._retention_s)
            outputs += [
                event_output(self.codec, self.settings.topic(FAILED), EventName.FAILED, failed),
                event_output(
                    self.codec,
                    self.settings.topic(STATUS),
                    EventName.STATUS,
                    failed_status(status, failed),
                ),
            ]
            lane = lane_of((status.get("source") or {}).get("topic"))
            outputs.append(self.usage.output(failed_usage(status, failed, lane=lane)))
        loop.commit(outputs, gaps)
        self.usage.committed(outputs)
        self.metrics.requests.labels("expired_in_transit").inc(len(lost))

    def admit(self, message: Message) -> dict[str, Any] | Output:
        """The decoded result, or its dead letter."""
        try:
            decoded = self.codec.decode_message(message, expected=EventName.RESULT)
        except DecodeError as error:
            self._decode_retries.check(message, error)
            log.warning("dead-lettering %s: %s", coordinates(message), error)
            self.metrics.requests.labels("dead_letter").inc()
            return dead_letter(self.settings.topic(DLQ), message, error)
        self._decode_retries.decoded(message)
        return decoded.value

    def prepare(self, admitted: Sequence[Admission]) -> list[Admission]:
        """Watch how close the oldest result of the batch is to being deleted unstored."""
        oldest = min((_age_s(item.message) for item in admitted), default=0.0)
        self.metrics.oldest_unstored_seconds.set(oldest)
        if oldest > self._retention_s * self.config.retention_warning_ratio:
            log.error(
                "the oldest unstored result is %.0fs old; the results topic deletes after "
                "%.0fs: results are lost unless the sink catches up (add sinks, fix storage)",
                oldest,
                self._retention_s,
            )
        return list(admitted)

    def work(self, prepared: list[Admission], abort: threading.Event) -> list[Output]:
        """PUT every image of the batch, then build its completed and status events."""
        outputs = [item.item for item in prepared if isinstance(item.item, Output)]
        results = [item.item for item in prepared if isinstance(item.item, dict)]
        started = time.perf_counter()
        spans = storage_spans(self._tracer, results)
        stored = [self._store_result(result) for result in results]
        try:
            for result, objects in zip(results, stored, strict=True):
                outputs += self._events(result, [f.result() for f in objects], started)
        except StorageUnavailableError as error:
            tracing.finish_all(spans, error)
            self.retries += 1
            self.metrics.retries.inc()
            raise
        tracing.finish_all(spans)
        return outputs

    def held_while_working(self, assignment: list[TopicPartition]) -> list[TopicPartition]:
        """Nothing: what arrives while a batch is stored is carried to the next ones."""
        return []

    def assigned(self, partitions: list[TopicPartition]) -> None:
        """Check them for results deleted unread, at the next gather (outside the callback)."""
        self._assigned += partitions
        self.health.ready()  # joined: called with no partitions too, when there are none left

    def committed(self, prepared: list[Admission], outputs: Sequence[Output]) -> None:
        """Count the stored results."""
        completed = sum(1 for item in prepared if isinstance(item.item, dict))
        self.metrics.requests.labels("completed").inc(completed)
        self.usage.committed(outputs)

    def dropped(self, prepared: list[Admission], reason: str) -> None:
        """Nothing to undo: the objects are overwritten when the batch is stored again."""

    # -- storing --------------------------------------------------------------------------

    def _store_result(self, result: dict[str, Any]) -> list[Any]:
        request = result["request"]
        futures = []
        for image in result["images"]:
            key = object_key(self.config.key_prefix, request, image["index"], image["content_type"])
            metadata = object_metadata(request, image["seed"])
            futures.append(
                self._puts.submit(self._put, key, image["data"], image["content_type"], metadata)
            )
        return futures

    def _put(
        self, key: str, data: bytes, content_type: str, metadata: dict[str, str]
    ) -> StoredObject:
        stored = self.store.put(key, data, content_type, metadata)
        self.metrics.objects_written.inc()
        self.metrics.bytes_written.inc(stored.size_bytes)
        self.metrics.put_seconds.observe(stored.seconds)
        return stored

    def _events(
        self, result: dict[str, Any], objects: list[StoredObject], started: float
    ) -> list[Output]:
        request = result["request"]
        completed_at = now_millis()
        completed = new_completed(
            result,
            [
                self._stored(result, image, stored, completed_at)
                for image, stored in zip(result["images"], objects, strict=True)
            ],
            storage_s=time.perf_counter() - started,
            completed_at=completed_at,
        )
        status = new_status(
            request,
            RequestState.COMPLETED,
            attempt=result["attempt"],
            source=result["source"],
            model=result["model"],
            image_uris=[stored.uri for stored in objects],
            updated_at=completed_at,
        )
        return [
            event_output(
                self.codec,
                self.settings.topic(COMPLETED),
                EventName.COMPLETED,
                completed,
                trace=request,
            ),
            event_output(self.codec, self.settings.topic(STATUS), EventName.STATUS, status),
            self.usage.output(completed_usage(result, completed)),
        ]

    def _stored(
        self,
        result: dict[str, Any],
        image: dict[str, Any],
        stored: StoredObject,
        completed_at: datetime,
    ) -> dict[str, Any]:
        url, expires_at = self.urls.url(
            result["request_id"], image["index"], stored.uri, completed_at
        )
        return stored_image(
            image,
            uri=stored.uri,
            sha256=stored.sha256,
            size_bytes=stored.size_bytes,
            url=url,
            url_expires_at=expires_at,
        )


def _age_s(message: Message) -> float:
    kind, millis = message.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE:
        return 0.0
    return max(time.time() - millis / 1000, 0.0)
