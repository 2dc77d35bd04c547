"""What a gateway instance knows of recent requests, read from the topics (read_committed).

A thread follows the request topics, ``diffusion.status``, ``diffusion.progress``,
``diffusion.completed`` and ``diffusion.failed`` from ``view_lookback_s`` ago and hands
each decoded batch to the event loop, where the view is kept: no locks, and every
instance builds the same state from the same topics. Events about one request arrive on
different topics in any order, so a state only moves forward (queued, running, terminal).
Each request keeps the list of events its SSE stream sends; a watcher waits on a per-request
asyncio.Event that the loop sets when something new arrives.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Consumer, KafkaException

from diffstream.kafka import IDLE_FETCH_WAIT_MS, make_consumer
from diffstream.settings import Settings
from producers.client.topic_lookup import Ends
from producers.gateway.catch_up import assign_since, still_behind
from producers.gateway.generation import (
    COMPLETED_STATE,
    QUEUED,
    RUNNING,
    STATE_RANK,
    TERMINAL,
    Generation,
    emit,
    failed_state,
)
from producers.gateway.settings import GatewaySettings
from schemas.codec import Codec
from schemas.events import ErrorCode, EventName, RequestState
from schemas.exceptions import DecodeError
from schemas.topics import COMPLETED, FAILED, PROGRESS, REQUESTS, REQUESTS_BATCH, STATUS

log = logging.getLogger(__name__)

_FOLLOWED = (REQUESTS, REQUESTS_BATCH, STATUS, PROGRESS, COMPLETED, FAILED)
_BATCH = 500


class GenerationView:
    """The requests of the last ``view_lookback_s``, kept on the event loop's thread."""

    def __init__(self, settings: Settings, gateway: GatewaySettings, codec: Codec) -> None:
        self._settings = settings
        self._gateway = gateway
        self._codec = codec
        self._items: OrderedDict[str, Generation] = OrderedDict()
        self._by_tenant: dict[str, deque[str]] = {}
        self._in_flight: dict[str, int] = {}
        self._wakes: dict[str, asyncio.Event] = {}
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.caught_up = threading.Event()
        self.failure: str | None = None
        # Ids this instance published and noted, until the follower reads them back.
        self._local: set[str] = set()
        self._request_topics = {settings.topic(REQUESTS), settings.topic(REQUESTS_BATCH)}

    # -- lifetime -------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Follow the topics; batches are applied on ``loop``."""
        self._loop = loop
        self._thread = threading.Thread(target=self._follow, name="gateway-view", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following and close the consumer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- reads (on the loop) ----------------------------------------------------------------

    def get(self, request_id: str, tenant: str) -> Generation | None:
        """The request if it exists and belongs to ``tenant``; None otherwise, alike."""
        item = self._items.get(request_id)
        return item if item is not None and item.tenant == tenant else None

    def find(self, request_id: str) -> Generation | None:
        """The request with this id, whichever tenant's (ids are one space)."""
        return self._items.get(request_id)

    def in_flight(self, tenant: str) -> int:
        """The tenant's requests that have not ended."""
        return self._in_flight.get(tenant, 0)

    def recent(
        self,
        tenant: str,
        *,
        before: int | None = None,
        model: str | None = None,
        labels: Mapping[str, str] | None = None,
        state: str | None = None,
        batch_id: str | None = None,
    ) -> Iterator[Generation]:
        """The tenant's requests, newest first, with ``seq`` below ``before``, filtered."""
        for request_id in reversed(self._by_tenant.get(tenant, ())):
            item = self._items.get(request_id)
            if item is None or item.tenant != tenant:
                continue
            if before is not None and item.seq >= before:
                continue
            if model is not None and item.model != model:
                continue
            if state is not None and item.state != state:
                continue
            if batch_id is not None and item.batch_id != batch_id:
                continue
            if labels and any(item.labels.get(k) != v for k, v in labels.items()):
                continue
            yield item

    def wake_event(self, request_id: str) -> asyncio.Event:
        """An asyncio.Event set the next time this request changes."""
        event = self._wakes.get(request_id)
        if event is None:
            event = self._wakes[request_id] = asyncio.Event()
        return event

    # -- writes (on the loop) ---------------------------------------------------------------

    def note_request(self, record: Mapping[str, Any]) -> Generation:
        """Take a request this instance just published (read-your-writes before the topic)."""
        item = self._apply(EventName.REQUEST, record, None)
        self._local.add(item.request_id)
        return item

    def apply_batch(self, batch: list[tuple[EventName, dict[str, Any], int | None]]) -> None:
        """Apply decoded events (the follower thread's hand-over)."""
        touched: set[str] = set()
        for event, record, timestamp_ms in batch:
            try:
                touched.add(self._apply(event, record, timestamp_ms).request_id)
            except (KeyError, TypeError, ValueError) as error:  # a strange record: skip it
                log.warning("view: skipping a %s it cannot read: %r", event, error)
        for request_id in touched:
            wake = self._wakes.pop(request_id, None)
            if wake is not None:
                wake.set()

    def _apply(
        self, event: EventName, record: Mapping[str, Any], timestamp_ms: int | None
    ) -> Generation:
        request_id = str(record["request_id"])
        item = self._items.get(request_id)
        if item is None:
            item = self._add(request_id)
        if event is EventName.REQUEST:
            self._take_request(item, record)
        elif event is EventName.PROGRESS:
            self._take_progress(item, record)
        elif event is EventName.STATUS:
            self._take_status(item, record)
        elif event is EventName.COMPLETED:
            self._take_completed(item, record)
        elif event is EventName.FAILED:
            self._take_failed(item, record)
        return item

    def _add(self, request_id: str) -> Generation:
        self._seq += 1
        item = self._items[request_id] = Generation(request_id, self._seq)
        while len(self._items) > self._gateway.view_max_requests:
            _, oldest = self._items.popitem(last=False)
            self._wakes.pop(oldest.request_id, None)
            if oldest.tenant is None:
                continue
            if not oldest.terminal and oldest.state is not None:
                self._in_flight[oldest.tenant] -= 1
            # The oldest request is (nearly always) at the front of its tenant's list.
            ids = self._by_tenant[oldest.tenant]
            while ids and ids[0] not in self._items:
                ids.popleft()
        return item

    def _own(self, item: Generation, tenant: object) -> None:
        if item.tenant is None and isinstance(tenant, str):
            item.tenant = tenant
            self._by_tenant.setdefault(tenant, deque()).append(item.request_id)
            if item.state is not None and not item.terminal:
                self._in_flight[tenant] = self._in_flight.get(tenant, 0) + 1

    def _move(self, item: Generation, state: str) -> bool:
        """Advance ``item`` to ``state`` if that is further along; whether it moved."""
        if item.state is not None and STATE_RANK[state] <= STATE_RANK[item.state]:
            return False
        was_open = item.state is not None and not item.terminal
        item.state = state
        if item.tenant is not None:
            counts = self._in_flight
            if not was_open and state not in TERMINAL:
                counts[item.tenant] = counts.get(item.tenant, 0) + 1
            elif was_open and state in TERMINAL:
                counts[item.tenant] -= 1
        return True

    def _take_request(self, item: Generation, record: Mapping[str, Any]) -> None:
        if item.request is not None:
            return  # read back what this instance already noted
        # A str id (not a UUID object) leaves the copy untracked by the cycle collector.
        item.request = {**record, "request_id": item.request_id}
        item.submitted_at = record.get("submitted_at")
        item.batch_id = record.get("batch_id")
        item.model = record.get("model")
        self._own(item, record.get("tenant"))
        if self._move(item, QUEUED):
            item.updated_at = item.submitted_at
            emit(item, "status", {"id": item.request_id, "status": QUEUED}, (1, 0, 0))

    def _take_progress(self, item: Generation, record: Mapping[str, Any]) -> None:
        if item.terminal:
            return
        self._move(item, RUNNING)
        item.step, item.steps = int(record["step"]), int(record["steps"])
        item.updated_at = record.get("updated_at")
        stamp = record.get("updated_at")
        data = {
            "id": item.request_id,
            "status": RUNNING,
            "step": item.step,
            "steps": item.steps,
            "updated_at": stamp.isoformat(timespec="milliseconds") if stamp else None,
        }
        emit(item, "progress", data, (2, int(record.get("attempt") or 1), item.step))

    def _take_status(self, item: Generation, record: Mapping[str, Any]) -> None:
        self._own(item, record.get("tenant"))
        item.batch_id = item.batch_id or record.get("batch_id")
        item.model = item.model or record.get("model")
        state = str(record["state"])
        if state in (RequestState.PROCESSING, RequestState.GENERATED):
            if self._move(item, RUNNING):
                item.updated_at = record.get("updated_at")
                emit(item, "status", {"id": item.request_id, "status": RUNNING}, (2, 0, 0))
        elif state == RequestState.COMPLETED:
            if not item.images:
                item.images = [{"index": i, "uri": u} for i, u in enumerate(record["image_uris"])]
            self._finish(item, COMPLETED_STATE, record.get("updated_at"))
        elif state in (RequestState.FAILED, RequestState.CANCELLED):
            code = record.get("error_code") or ErrorCode.UNKNOWN
            item.error = item.error or {
                "code": str(code),
                "field": None,
                "message": record.get("message"),
            }
            self._finish(item, failed_state(state, code), record.get("updated_at"))

    def _take_completed(self, item: Generation, record: Mapping[str, Any]) -> None:
        self._own(item, (record.get("context") or {}).get("tenant"))
        item.images = [
            {key: image.get(key) for key in ("index", "uri", "content_type", "width", "height")}
            | {"seed": image.get("seed")}
            for image in record["images"]
        ]
        item.timings = dict(record.get("timings") or {})
        item.model = item.model or record.get("model")
        self._finish(item, COMPLETED_STATE, record.get("completed_at"))

    def _take_failed(self, item: Generation, record: Mapping[str, Any]) -> None:
        self._own(item, (record.get("context") or {}).get("tenant"))
        errors = record.get("field_errors") or []
        code = str(record["error_code"])
        item.error = {
            "code": code,
            "field": errors[0]["field"] if errors else None,
            "message": record.get("message"),
            "fields": [dict(e) for e in errors],
        }
        state = RequestState.CANCELLED if code == ErrorCode.CANCELLED else RequestState.FAILED
        self._finish(item, failed_state(state, code), record.get("failed_at"))

    def _finish(self, item: Generation, state: str, when: datetime | None) -> None:
        if self._move(item, state):
            item.updated_at = when
            emit(item, state, {"id": item.request_id, "status": state}, (3, 0, 0))

    # -- the follower thread ----------------------------------------------------------------

    def _follow(self) -> None:
        consumer: Consumer | None = None
        try:
            consumer = make_consumer(
                self._settings,
                {
                    "group.id": f"diffstream-gateway-view-{uuid.uuid4()}",
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "fetch.wait.max.ms": IDLE_FETCH_WAIT_MS,
                    "fetch.error.backoff.ms": 50,
                },
            )
            ends = self._assign_retrying(consumer)
            if not ends:
                self._loop_call(self.caught_up.set)
            while not self._stop.is_set():
                batch = []
                messages = _next_messages(consumer)
                for message in messages:
                    if message.error() is not None or self._published_here(message):
                        continue
                    decoded = self._decode(message)
                    if decoded is not None:
                        batch.append(decoded)
                if batch and self._loop is not None:
                    self._loop.call_soon_threadsafe(self.apply_batch, batch)
                if ends and not self.caught_up.is_set():
                    ends = still_behind(consumer, ends)
                    if not ends:
                        self._loop_call(self.caught_up.set)
        except KafkaException as exc:
            self.failure = f"the view stopped reading Kafka: {exc}"
            log.error("%s", self.failure)
        finally:
            if consumer is not None:
                consumer.close()

    def _assign_retrying(self, consumer: Consumer) -> Ends:
        """``_assign`` until it works; meanwhile ``failure`` says why (and /readyz shows it)."""
        while True:
            try:
                ends = self._assign(consumer)
            except KafkaException as exc:
                self.failure = f"cannot read the outcome topics yet: {exc}"
                log.warning("%s (retrying)", self.failure)
                if self._stop.wait(1.0):
                    raise
                continue
            self.failure = None
            return ends

    def _published_here(self, message: Any) -> bool:
        """A request this instance published and noted already: skip decoding it again
        (the loop thread would otherwise wait on this thread's decoding for the GIL)."""
        if message.topic() not in self._request_topics:
            return False
        key = (message.key() or b"").decode(errors="replace")
        if key in self._local:
            self._local.discard(key)
            return True
        return False

    def _loop_call(self, callback: Any) -> None:
        # Caught up only once the batches before are applied: queue it behind them.
        if self._loop is not None:
            self._loop.call_soon_threadsafe(callback)

    def _decode(self, message: Any) -> tuple[EventName, dict[str, Any], int | None] | None:
        try:
            decoded = self._codec.decode_message(message)
        except DecodeError as error:
            log.debug("view: skipping %s", error)
            return None
        _kind, stamp = message.timestamp()
        return decoded.event, decoded.value, stamp if stamp > 0 else None

    def _assign(self, consumer: Consumer) -> Ends:
        """Assign every partition from ``view_lookback_s`` ago; the ends to catch up to."""
        since = datetime.now(UTC) - timedelta(seconds=self._gateway.view_lookback_s)
        topics = [self._settings.topic(name) for name in _FOLLOWED]
        return assign_since(consumer, topics, since, self._settings.producer.admin_timeout_s)


def _next_messages(consumer: Consumer) -> list[Any]:
    """Wait for one message, then take what else is there: no waiting to fill a batch."""
    first = consumer.poll(0.05)
    return [] if first is None else [first, *consumer.consume(_BATCH, timeout=0)]
