"""`diffstream sink images`: results into the object store, then one completed event each.

For every GenerationResult read from ``diffusion.results`` (read_committed) each image is PUT
under a key derived from the request, then a GenerationCompleted and a RequestStatus
``completed`` are produced in one transaction with the consumed offsets. While the object
store is unavailable the batch is retried with backoff while the consumer keeps polling,
so it stays in its group; nothing is committed until it is stored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import Message
from prometheus_client import CollectorRegistry

from diffstream.settings import Settings
from schemas.builders import new_completed, new_status, now_millis, stored_image
from schemas.codec import Codec
from schemas.events import EventName, RequestState
from schemas.exceptions import DecodeError
from schemas.topics import COMPLETED, DLQ, RESULTS, STATUS
from sinks.base import Output, TransactionalSink, coordinates, dead_letter
from sinks.exceptions import StorageUnavailableError
from sinks.metrics import ImageSinkMetrics
from sinks.storage import ImageStore, StoredObject, object_key, object_metadata

log = logging.getLogger(__name__)


class ImageSink(TransactionalSink):
    """One member of the image sinks' consumer group."""

    role = "image-sink"

    def __init__(
        self,
        settings: Settings,
        *,
        store: ImageStore | None = None,
        registry: CollectorRegistry | None = None,
        codec: Codec | None = None,
    ) -> None:
        super().__init__(settings, settings.sink, [settings.topic(RESULTS)])
        self.codec = codec or Codec(settings)
        self.metrics = ImageSinkMetrics.create(registry or CollectorRegistry())
        self.store = store or ImageStore(settings)
        self._puts = ThreadPoolExecutor(settings.sink.put_concurrency, thread_name_prefix="put")

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

    def on_retry(self, error: StorageUnavailableError, attempt: int) -> None:
        self.metrics.retries.inc()

    def write(self, batch: Sequence[Message]) -> list[Output]:
        """PUT every image of the batch, then build its completed and status events."""
        outputs: list[Output] = []
        results: list[tuple[Message, dict[str, Any]]] = []
        for message in batch:
            try:
                decoded = self.codec.decode(
                    message.value(),
                    expected=EventName.RESULT,
                    topic=message.topic(),
                    partition=message.partition(),
                    offset=message.offset(),
                )
            except DecodeError as error:
                log.warning("dead-lettering %s: %s", coordinates(message), error)
                outputs.append(dead_letter(self.settings.topic(DLQ), message, error))
                self.metrics.requests.labels("dead_letter").inc()
                continue
            results.append((message, decoded.value))
        started = time.perf_counter()
        stored = [self._store_result(result) for _, result in results]
        for (_, result), objects in zip(results, stored, strict=True):
            outputs += self._events(result, [f.result() for f in objects], started)
        return outputs

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
        key = str(result["request_id"]).encode()
        completed_at = now_millis()
        completed = new_completed(
            result,
            [
                stored_image(
                    image, uri=stored.uri, sha256=stored.sha256, size_bytes=stored.size_bytes
                )
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
        self.metrics.requests.labels("completed").inc()
        traceparent = request.get("traceparent")
        tracestate = request.get("tracestate")
        return [
            Output(
                self.settings.topic(COMPLETED),
                key,
                self.codec.encode(EventName.COMPLETED, completed),
                self.codec.headers(
                    EventName.COMPLETED, traceparent=traceparent, tracestate=tracestate
                ),
            ),
            Output(
                self.settings.topic(STATUS),
                key,
                self.codec.encode(EventName.STATUS, status),
                self.codec.headers(EventName.STATUS),
            ),
        ]

    def run(self, stop: threading.Event) -> None:
        """Consume and store until ``stop`` is set."""
        try:
            super().run(stop)
        finally:
            self._puts.shutdown(wait=True, cancel_futures=True)
