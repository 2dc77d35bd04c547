"""The gateway's work behind the routes: admit, publish, read back, cancel, batch.

Publishing goes through the producers' ``Publisher`` (validated, idempotent producer,
``acks=all``); a submit answers only once Kafka acknowledged it.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, Message

from diffstream.kafka import make_admin
from diffstream.s3 import make_s3_client
from diffstream.settings import Settings
from producers.client.delivery import DeliveryProducer
from producers.client.publisher import Publisher
from producers.exceptions import PublishError
from producers.gateway.bodies import InvalidBody, build_request, comparable, idempotent_id
from producers.gateway.exceptions import (
    ConflictError,
    NotFoundError,
    OverloadedError,
    UnavailableError,
)
from producers.gateway.generation import STATES, Generation
from producers.gateway.lag import LaneLag
from producers.gateway.limits import TenantLimiter
from producers.gateway.metrics import GatewayMetrics
from producers.gateway.presign import Presigner
from producers.gateway.settings import GatewaySettings
from producers.gateway.view import GenerationView
from producers.operations.backfill_file import Format, LineError, read_entries
from schemas.codec import Codec
from schemas.events import EventName, Lane
from schemas.exceptions import FieldError
from schemas.signals import new_cancel
from schemas.tenants import TenantDirectory, TenantKey
from schemas.topics import CANCELLATIONS

log = logging.getLogger(__name__)


class Gateway:
    """One instance's clients and state; the routes call it from the event loop."""

    def __init__(
        self,
        settings: Settings,
        gateway: GatewaySettings,
        metrics: GatewayMetrics,
    ) -> None:
        self.settings = settings
        self.config = gateway
        self.metrics = metrics
        self.codec = Codec(settings)
        self.publisher = Publisher(settings, codec=self.codec, service="gateway")
        self.cancels = DeliveryProducer(settings)
        self.directory = TenantDirectory(settings, self.codec)
        self.view = GenerationView(settings, gateway, self.codec)
        self.lag = LaneLag(settings, gateway)
        self.limiter = TenantLimiter()
        self.presigner = Presigner(settings, gateway)
        self._s3 = make_s3_client(settings, timeout_s=2.0)
        self._admin = make_admin(settings)
        self._pending: dict[str, asyncio.Future[None]] = {}

    # -- lifetime -------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start following keys, outcomes and lag."""
        self.directory.start()
        self.view.start(loop)
        if self.config.shed_interactive_lag:
            self.lag.start()

    def close(self) -> None:
        """Stop the followers and flush the publisher."""
        self.view.stop()
        self.directory.stop()
        if self.config.shed_interactive_lag:
            self.lag.stop()
        self.publisher.close()
        self.cancels.close()

    async def ready(self, timeout_s: float | None = None) -> bool:
        """Wait (up to ``timeout_s``) until keys and the view are read up to now."""
        deadline = asyncio.get_running_loop().time() + (
            self.config.startup_timeout_s if timeout_s is None else timeout_s
        )
        while not (self.directory.caught_up.is_set() and self.view.caught_up.is_set()):
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def problems(self) -> list[str]:
        """What keeps this instance from serving: Kafka or S3 unreachable, not caught up."""
        found = []
        if self.view.failure:
            found.append(self.view.failure)
        if not self.directory.caught_up.is_set():
            found.append("the API keys are not read up to now yet")
        if not self.view.caught_up.is_set():
            found.append("the requests' outcomes are not read up to now yet")
        try:
            await asyncio.to_thread(self._admin.list_topics, timeout=2.0)
        except KafkaException as exc:
            found.append(f"Kafka at {self.settings.kafka_bootstrap} is not reachable: {exc}")
        try:
            await asyncio.to_thread(self._s3.bucket_exists, self.settings.s3_bucket)
        except Exception as exc:  # any failure to reach S3 is the same answer: not ready
            found.append(f"S3 at {self.settings.s3_endpoint} is not reachable: {exc}")
        return found

    # -- submits --------------------------------------------------------------------------

    async def submit(
        self,
        key: TenantKey,
        fields: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        traceparent: str | None = None,
    ) -> tuple[Generation, bool]:
        """Publish a request (or find the one an Idempotency-Key already stands for);
        the generation and whether this call published it."""
        await self.ready()
        if idempotency_key is not None:
            request_id = idempotent_id(key["tenant"], idempotency_key)
            found = await self._existing(request_id)
            if found is not None:
                if found.tenant != key["tenant"]:  # not possible with uuid5, kept as a guard
                    raise ConflictError("this Idempotency-Key's id is taken")
                return found, False
        else:
            request_id = str(uuid.uuid4())
        record = self._request(key, fields, request_id, traceparent)
        return await self._publish_new(key, record), True

    def _request(
        self, key: TenantKey, fields: dict[str, Any], request_id: str, traceparent: str | None
    ) -> dict[str, Any]:
        """The request record of ``fields``, checked against the limits (``InvalidBody``)."""
        return build_request(
            fields,
            request_id=request_id,
            tenant=key["tenant"],
            limits=self.settings.limits,
            traceparent=traceparent,
        )

    async def put(
        self, key: TenantKey, request_id: str, fields: dict[str, Any], traceparent: str | None
    ) -> tuple[Generation, bool]:
        """Create a request under a client-chosen UUID; a repeat with the same body returns
        it (False), a different body or someone else's id is a ``ConflictError``."""
        await self.ready()
        try:
            request_id = str(uuid.UUID(request_id))
        except ValueError:
            problem = f"id {request_id!r} is not a UUID: choose a fresh one (e.g. uuid4)"
            raise InvalidBody([FieldError("id", request_id, "a UUID", problem)]) from None
        record = self._request(key, fields, request_id, traceparent)
        found = await self._existing(request_id)
        if found is None:
            return await self._publish_new(key, record), True
        if found.tenant == key["tenant"] and found.request is not None:
            if comparable(found.request) == comparable(record):
                return found, False
            raise ConflictError(
                f"generation {request_id} exists with a different body: repeat it unchanged, "
                "or PUT the new body under a fresh UUID"
            )
        raise ConflictError(f"id {request_id} is taken: PUT under a fresh UUID")

    async def _existing(self, request_id: str) -> Generation | None:
        pending = self._pending.get(request_id)
        if pending is not None:
            await asyncio.shield(pending)
        return self.view.find(request_id)

    async def _publish_new(self, key: TenantKey, record: dict[str, Any]) -> Generation:
        lane = str(record["lane"])
        if (
            lane == Lane.INTERACTIVE
            and self.config.shed_interactive_lag
            and self.lag.lag > self.config.shed_interactive_lag
        ):
            raise OverloadedError(
                "interactive_lag",
                f"the interactive lane is {self.lag.lag} requests behind (over "
                f"DIFFSTREAM_GATEWAY__SHED_INTERACTIVE_LAG={self.config.shed_interactive_lag}): "
                'retry later, or send it with "lane": "batch"',
                5.0,
            )
        self.limiter.admit(
            key,
            requests=1,
            images=int(record["num_images"]),
            in_flight=self.view.in_flight(key["tenant"]),
        )
        request_id = str(record["request_id"])
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = done
        try:
            # build_request validated it: one validation per submit, not two.
            await self._acknowledged(self.publisher.send_validated(record))
            self.metrics.submits.labels(lane).inc()
            return self.view.note_request(record)
        finally:
            del self._pending[request_id]
            done.set_result(None)

    async def _acknowledged(self, future: Future[Message]) -> None:
        try:
            await asyncio.wait_for(
                asyncio.wrap_future(future), self.publisher.publish_timeout_s + 5
            )
        except (PublishError, TimeoutError) as exc:
            raise UnavailableError(f"Kafka did not acknowledge the request: {exc}") from None

    # -- reads ----------------------------------------------------------------------------

    async def generation(self, key: TenantKey, request_id: str) -> Generation:
        """The tenant's generation, or ``NotFoundError`` (also for another tenant's)."""
        await self.ready()
        item = self.view.get(request_id, key["tenant"])
        if item is None:
            raise NotFoundError(f"no generation {request_id} for this API key's tenant")
        return item

    # -- cancel ---------------------------------------------------------------------------

    async def cancel(self, key: TenantKey, request_id: str) -> Generation:
        """Publish a GenerationCancel for the tenant's request."""
        item = await self.generation(key, request_id)
        if item.terminal:
            raise ConflictError(f"generation {request_id} already ended as {item.state}")
        record = new_cancel(item.request_id, tenant=key["tenant"], reason="cancelled over HTTP")
        topic = self.settings.topic(CANCELLATIONS)
        future = self.cancels.send(
            topic,
            self.codec.encode(EventName.CANCEL, record),
            item.request_id.encode(),
            self.codec.headers(EventName.CANCEL),
        )
        await self._acknowledged(future)
        return item

    # -- batches --------------------------------------------------------------------------

    async def batch(
        self, key: TenantKey, body: bytes, fmt: Format
    ) -> tuple[str, int, list[LineError]]:
        """Publish every valid line of a JSONL or CSV body on the batch lane; the batch id,
        how many were published and the invalid lines."""
        await self.ready()
        batch_id = f"b-{uuid.uuid4().hex}"
        entries, invalid = await asyncio.to_thread(self._read_lines, body, batch_id, fmt)
        if not entries:
            errors = [
                FieldError(f"line {e.line}", None, "a valid request", e.message) for e in invalid
            ]
            raise InvalidBody(
                errors or [FieldError("body", None, "one request a line", "the body has no lines")]
            )
        # A batch is one call against rate_per_s; its requests wait on the batch lane.
        self.limiter.admit(key, requests=1, images=0, in_flight=0)
        records = [{**entry.record, "tenant": key["tenant"]} for entry in entries]
        futures = [self.publisher.send_validated(record) for record in records]
        await asyncio.gather(*(self._acknowledged(f) for f in futures))
        for record in records:
            self.view.note_request(record)
        self.metrics.submits.labels("batch").inc(len(records))
        return batch_id, len(records), invalid

    def _read_lines(
        self, body: bytes, batch_id: str, fmt: Format
    ) -> tuple[list[Any], list[LineError]]:
        with tempfile.TemporaryDirectory(prefix="diffstream-batch-") as folder:
            path = Path(folder) / f"batch.{fmt}"
            path.write_bytes(body)
            return read_entries(
                path, batch_id, fmt=fmt, lane=Lane.BATCH, limits=self.settings.limits
            )

    def batch_counts(self, key: TenantKey, batch_id: str) -> dict[str, int]:
        """How many of the tenant's requests in ``batch_id`` are in each state."""
        counts = dict.fromkeys(STATES, 0)
        for item in self.view.recent(key["tenant"], batch_id=batch_id):
            counts[item.state or "queued"] += 1
        if not any(counts.values()):
            raise NotFoundError(f"no batch {batch_id} for this API key's tenant")
        return counts
