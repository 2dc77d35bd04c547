"""The publish API: ``Publisher`` (blocking) and ``AsyncPublisher`` (asyncio).

A request is validated before anything is sent (``ValidationError`` names each field, its
value and the limit), published idempotently with ``acks=all``, and ``submit`` returns only
once the brokers acknowledged it: no request is lost once it returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, Unpack

from confluent_kafka import Message
from opentelemetry.trace import SpanKind

from diffstream import tracing
from diffstream.closing import Closing
from diffstream.settings import Settings
from producers.client.delivery import DeliveryProducer
from producers.client.events import Event
from producers.client.outcome_reader import DEFAULT_COMPLETED_TOPIC, OutcomeReader
from producers.exceptions import PublishError, RequestFailed, WaitTimeout
from schemas.builders import new_request
from schemas.codec import Codec
from schemas.events import EventName, Lane
from schemas.topics import REQUESTS, REQUESTS_BATCH
from schemas.validation import check_request

logger = logging.getLogger(__name__)

# Outcome timestamps come from another machine's clock: read a little before the submit.
CLOCK_SKEW = timedelta(seconds=60)


def lane_topic(settings: Settings, record: Mapping[str, Any]) -> str:
    """The request topic of a record's lane, with the prefix."""
    batch = record.get("lane") == Lane.BATCH.value
    return settings.topic(REQUESTS_BATCH if batch else REQUESTS)


class PublisherOptions(TypedDict, total=False):
    """``Publisher``'s keyword options, which ``AsyncPublisher`` passes on."""

    publish_timeout_s: float | None
    codec: Codec | None
    # The trace's service.name for this process's publishes (the gateway's own).
    service: str


class Publisher(Closing):
    """Validates, publishes and waits for generation requests; use it as a context manager."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        publish_timeout_s: float | None = None,
        codec: Codec | None = None,
        service: str = "publisher",
    ) -> None:
        self.settings = settings or Settings()
        self.codec = codec or Codec(self.settings)
        self._delivery = DeliveryProducer(self.settings, publish_timeout_s=publish_timeout_s)
        self._tracer = tracing.tracer(service)
        self._submitted: dict[str, datetime] = {}

    # ---- building and sending ------------------------------------------------------------

    def build(self, prompt: str, **fields: Any) -> dict[str, Any]:
        """A validated GenerationRequest: defaults, then ``fields``; ``ValidationError`` if bad."""
        record = new_request(prompt, **fields)
        check_request(record, self.settings.limits)
        return record

    def send(self, record: Mapping[str, Any]) -> Future[Message]:
        """Publish a complete record on its lane's topic (validated first); a future of the ack."""
        check_request(record, self.settings.limits)
        return self.send_validated(record)

    def send_validated(self, record: Mapping[str, Any]) -> Future[Message]:
        """``send`` without the check, for a record already checked against these settings'
        limits (by ``build``, or ``check_request`` as backfill and replay do): once a hop."""
        request_id = str(record["request_id"])
        topic = lane_topic(self.settings, record)
        # The request's trace starts here (or continues the caller's traceparent): the event
        # carries the publish span's context, which every later hop continues.
        span = tracing.start(
            self._tracer,
            "publish",
            traceparent=record.get("traceparent"),
            tracestate=record.get("tracestate"),
            kind=SpanKind.PRODUCER,
            attributes={"diffstream.request_id": request_id, "messaging.destination.name": topic},
        )
        if span is not None:
            record = {**record, "traceparent": tracing.traceparent_of(span)}
        future = self._delivery.send(
            topic,
            self.codec.encode(EventName.REQUEST, record),
            request_id.encode(),
            self.codec.headers(
                EventName.REQUEST,
                traceparent=record.get("traceparent"),
                tracestate=record.get("tracestate"),
            ),
        )
        tracing.finish_on(future, span)  # the span lasts until the brokers acknowledge
        self._submitted[request_id] = datetime.now(UTC)
        return future

    def wait_acknowledged(self, future: Future[Message]) -> Message:
        """Block until a ``send`` is acknowledged; ``PublishError`` if it failed or timed out."""
        return self._delivery.wait(future)

    def publish(self, record: Mapping[str, Any]) -> str:
        """Publish a complete record and wait for its acknowledgement; its request_id."""
        self._delivery.wait(self.send(record))
        return str(record["request_id"])

    def submit(self, prompt: str, *, wait_delivery: bool = True, **fields: Any) -> str:
        """Validate and publish one request; returns its request_id once acknowledged
        (``wait_delivery=False``: once queued; ``flush()`` or closing waits for the rest)."""
        record = self.build(prompt, **fields)
        future = self.send_validated(record)
        if wait_delivery:
            self._delivery.wait(future)
        return str(record["request_id"])

    def submit_many(self, requests: Iterable[Mapping[str, Any]]) -> list[str]:
        """Validate every request (each a mapping with ``prompt`` and other fields) before
        publishing any, then publish all and wait for every acknowledgement."""
        records = [self.build(**dict(fields)) for fields in requests]
        futures = [self.send_validated(record) for record in records]
        for future in futures:
            self._delivery.wait(future)
        return [str(record["request_id"]) for record in records]

    @property
    def publish_timeout_s(self) -> float:
        """How long a publish may wait for the brokers' acknowledgement."""
        return self._delivery.timeout_s

    def flush(self, timeout_s: float | None = None) -> int:
        """Wait for queued requests; how many are still undelivered."""
        return self._delivery.flush(timeout_s)

    # ---- waiting ----------------------------------------------------------------------

    def wait(
        self,
        request_id: str,
        timeout_s: float | None = None,
        *,
        completed_topic: str = DEFAULT_COMPLETED_TOPIC,
    ) -> Event:
        """The completed event of ``request_id``; ``RequestFailed`` (carrying the failed event)
        if it failed, ``WaitTimeout`` if neither arrives within the timeout."""
        request_id = str(request_id)
        timeout_s = self.settings.producer.wait_timeout_s if timeout_s is None else timeout_s
        since = self._submitted.get(request_id)
        if since is None:
            since = datetime.now(UTC) - timedelta(seconds=self.settings.producer.wait_lookback_s)
        deadline = time.monotonic() + timeout_s
        with OutcomeReader(
            self.settings, since - CLOCK_SKEW, completed_topic=completed_topic, codec=self.codec
        ) as reader:
            while (left := deadline - time.monotonic()) > 0:
                for event in reader.poll(min(left, 0.5)):
                    if event.request_id != request_id:
                        continue
                    if event.kind == "failed":
                        raise RequestFailed(event)
                    return event
        raise WaitTimeout(request_id, timeout_s)

    # ---- lifetime ---------------------------------------------------------------------

    def close(self) -> None:
        """Flush what is queued (within the publish timeout) and stop."""
        self._delivery.close()


class AsyncPublisher:
    """``Publisher`` for asyncio: sends resolve through the delivery thread, never blocking
    the event loop; ``async with AsyncPublisher() as publisher: ...``."""

    def __init__(
        self, settings: Settings | None = None, **options: Unpack[PublisherOptions]
    ) -> None:
        self._sync = Publisher(settings, **options)
        self.settings = self._sync.settings

    async def submit(self, prompt: str, **fields: Any) -> str:
        """Validate and publish one request; its request_id once acknowledged."""
        record = self._sync.build(prompt, **fields)
        await self._acknowledged(self._sync.send_validated(record))
        return str(record["request_id"])

    async def submit_many(self, requests: Iterable[Mapping[str, Any]]) -> list[str]:
        """Validate all, then publish all concurrently; their request_ids once acknowledged."""
        records = [self._sync.build(**dict(fields)) for fields in requests]
        futures = [self._sync.send_validated(record) for record in records]
        await asyncio.gather(*(self._acknowledged(f) for f in futures))
        return [str(record["request_id"]) for record in records]

    async def wait(
        self,
        request_id: str,
        timeout_s: float | None = None,
        *,
        completed_topic: str = DEFAULT_COMPLETED_TOPIC,
    ) -> Event:
        """The completed event; ``RequestFailed`` or ``WaitTimeout`` as ``Publisher.wait``."""
        return await asyncio.to_thread(
            self._sync.wait, request_id, timeout_s, completed_topic=completed_topic
        )

    async def close(self) -> None:
        """Flush and stop, off the event loop."""
        await asyncio.to_thread(self._sync.close)

    async def _acknowledged(self, future: Future[Message]) -> None:
        # The delivery callback fails the future after the publish timeout; the extra
        # seconds only guard against a callback that never comes.
        timeout_s = self._sync.publish_timeout_s + 5.0
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
        except TimeoutError:
            raise PublishError(f"no acknowledgement from Kafka within {timeout_s:g}s") from None

    async def __aenter__(self) -> AsyncPublisher:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
