"""`diffstream sink notify`: completed, failed and status events to their callbacks, as webhooks.

The polling thread reads ``diffusion.completed``, ``diffusion.failed`` and ``diffusion.status``
(read_committed) and hands each event whose request asked for it to an asyncio loop on its
own thread, where deliveries run concurrently (see ``sinks.delivery``). A status event
carries its request's callback (RequestStatus v3) when the callback asks for ``status``, so
no other topic is joined; a request's status webhooks are sent one at a time in offset
order, which is the order of its state changes (``sinks.sequences``).

Delivery is at-least-once: an offset is committed only once every event up to it was
delivered, skipped, or written to ``diffusion.webhooks.dlq``; receivers dedupe by the stable
``webhook-id``.

One dead endpoint never holds up the others: each endpoint has a bounded queue
(``sinks.endpoints``) and what a full queue cannot take is dead-lettered at once
(``backlog``), as are unresolvable hosts and permanent 4xx answers. So its deliveries end
(delivered or durably dead-lettered) and their offsets become committable like any other;
a delivery still being retried holds back only its own partition's commit point, never
the polling of any partition. Only the notifier-wide ``max_in_flight`` memory guard
pauses partitions (the consumer keeps polling), which one endpoint cannot reach.

A callback that broke the request rules (credentials in its URL, a bad scheme, ...) is never
called, even for the failed event that reports it; a valid callback of a request that was
invalid for another reason hears about the failure. URLs are logged through ``redact_url``.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import Future
from typing import Any, NamedTuple

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from prometheus_client import CollectorRegistry

from diffstream import tracing
from diffstream.consuming import close_dirty, member_config, usable
from diffstream.health import Health
from diffstream.identity import claim_instance_id
from diffstream.kafka import make_consumer, make_producer
from diffstream.request_limits import RequestLimits
from diffstream.settings import KafkaConfig, Settings
from schemas.codec import Codec
from schemas.dlq import coordinates, dead_letter
from schemas.events import EventName
from schemas.exceptions import DecodeError
from schemas.tenants import TenantDirectory
from schemas.topics import COMPLETED, FAILED, STATUS, WEBHOOKS_DLQ
from schemas.urls import redact_url
from schemas.validation import callback_errors
from sinks.delivery import DEAD_LETTER_OUTCOMES, Deliverer, Delivery, DeliveryResult
from sinks.exceptions import SinkError, WebhookDeliveryError
from sinks.metrics import NotifierMetrics
from sinks.offsets import OffsetTracker, TopicPartitionKey
from sinks.payloads import CALLBACK_EVENTS, webhook_body, webhook_id
from sinks.signing import WebhookSigner
from sinks.tracing import traced_delivery

log = logging.getLogger(__name__)

IDLE_POLL_S = 0.1
TENANTS_CATCH_UP_S = 10.0
URL_HEADER = "diffstream.webhook.url"
ID_HEADER = "diffstream.webhook.id"


class _Finished(NamedTuple):
    tp: TopicPartitionKey
    offset: int
    epoch: int
    message: Message
    delivery: Delivery
    future: Future[DeliveryResult]


class Uncallable(NamedTuple):
    """An event whose callback must not be called: why, and its URL as it may be logged."""

    reason: str
    shown_url: str


def plan_delivery(
    event: EventName,
    record: dict[str, Any],
    limits: RequestLimits | None = None,
    *,
    offset: int | None = None,
) -> Delivery | Uncallable | None:
    """The webhook an event calls for; None when there is none (no callback, or not for this
    event); ``Uncallable`` when its callback breaks the request rules. A status event (which
    carries its callback itself) needs its ``offset``: its sequence."""
    kind = CALLBACK_EVENTS.get(event)
    status = event is EventName.STATUS
    # Outcomes carry the request's context; a status event carries the callback itself.
    context = record if status else (record.get("context") or {})
    callback = context.get("callback")
    if kind is None or not callback or kind not in (callback.get("events") or ()):
        return None
    url = callback.get("url")
    # The processor judged the request: a failed event names the callback's own errors
    # (only their fields are repeated: messages of older writers may show the URL whole).
    flagged = sorted(
        {
            str(error.get("field"))
            for error in record.get("field_errors") or ()
            if str(error.get("field", "")).split(".")[0] == "callback"
        }
    )
    if flagged:
        return Uncallable(f"the request's {', '.join(flagged)} failed validation", redact_url(url))
    # Judge it again here: events of older writers, completed events, limits changed since.
    problems = [error.message for error in callback_errors(callback, limits)]
    if problems:
        return Uncallable("; ".join(problems)[:500], redact_url(url))
    if status and offset is None:
        raise ValueError("a status event's webhook needs the event's offset (its sequence)")
    sequence = offset if status else None
    return Delivery(
        url=str(url),
        webhook_id=webhook_id(record["request_id"], event, sequence),
        body=webhook_body(event, record, sequence),
        tenant=context.get("tenant"),
        # One request's state changes are sent in order, each after the one before ended.
        sequence_key=str(record["request_id"]) if status else None,
    )


class Notifier:
    """One member of the notifiers' consumer group."""

    def __init__(
        self,
        settings: Settings,
        *,
        registry: CollectorRegistry | None = None,
        codec: Codec | None = None,
    ) -> None:
        self.settings = settings
        self.config = settings.webhooks
        self.codec = codec or Codec(settings)
        # Each tenant's webhooks are signed with its own secret (from the keys topic).
        self.tenants = TenantDirectory(settings, self.codec)
        # Fails fast without a secret (the one for requests without a tenant).
        self.signer = WebhookSigner(self.config.signing_secret, self.tenants.secret_for)
        self.metrics = NotifierMetrics.create(registry or CollectorRegistry())
        self.topics = [settings.topic(COMPLETED), settings.topic(FAILED), settings.topic(STATUS)]
        self.tracker = OffsetTracker()
        self.outcomes: dict[str, int] = {}
        self._finished: queue.SimpleQueue[_Finished] = queue.SimpleQueue()
        self._futures: dict[tuple[TopicPartitionKey, int], Future[DeliveryResult]] = {}
        self._dlq_errors: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._deliverer: Deliverer | None = None
        self._claim = claim_instance_id("notifier", settings.home)
        self.instance_id = self._claim.instance_id
        self._tracer = tracing.tracer("notifier", self.instance_id)
        self.recoveries = 0
        self.health = Health()

    # -- the loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set; deliveries still under way after the grace period
        are left to whoever reads the partitions next."""
        thread = threading.Thread(target=self._loop.run_forever, name="webhooks", daemon=True)
        thread.start()
        self.tenants.start()
        self.tenants.wait_caught_up(TENANTS_CATCH_UP_S)
        self._deliverer = asyncio.run_coroutine_threadsafe(
            self._make_deliverer(), self._loop
        ).result(10)
        consumer, producer = self._connect()
        log.info("notifier %s consuming %s", self.instance_id, ", ".join(self.topics))
        next_commit = time.monotonic() + self.config.commit_interval_s
        paused = False
        try:
            while not stop.is_set():
                try:
                    self._drain(producer)
                    paused = self._throttle(consumer, paused)
                    message = consumer.poll(IDLE_POLL_S)
                    if message is not None and usable(message):
                        self._handle(message, producer)
                    if time.monotonic() >= next_commit:
                        self._commit(consumer, producer)
                        next_commit = time.monotonic() + self.config.commit_interval_s
                except (SinkError, KafkaException) as error:
                    # Close dirty and rejoin: what was not committed is delivered again
                    # (receivers dedupe by webhook-id), nothing is skipped.
                    self.recoveries += 1
                    log.warning("notifier: %s; rejoining from the committed offsets", error)
                    self._forget(consumer.assignment())
                    close_dirty(consumer, producer)
                    consumer, producer = self._connect()
                    paused = False
            self._finish(consumer, producer)
        finally:
            self.health.stopped()
            for future in self._futures.values():
                future.cancel()
            asyncio.run_coroutine_threadsafe(self._deliverer.aclose(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            thread.join(10)
            self.tenants.stop()
            consumer.close()
            producer.flush(10)
            self._claim.release()
            log.info("notifier stopped: %s", self.outcomes or "nothing delivered")

    def _connect(self) -> tuple[Consumer, Producer]:
        consumer = make_consumer(self.settings, self._consumer_config())
        producer = make_producer(self.settings, {"enable.idempotence": True, "acks": "all"})
        self._dlq_errors = []
        consumer.subscribe(
            self.topics,
            on_assign=lambda c, ps: self.health.ready(),
            on_revoke=lambda c, ps: self._on_revoke(c, producer, ps),
            on_lost=lambda c, ps: self._forget(ps),
        )
        return consumer, producer

    async def _make_deliverer(self) -> Deliverer:
        # The HTTP client belongs to the loop that uses it: build it there.
        return Deliverer(self.config, self.metrics, signer=self.signer)

    def _consumer_config(self) -> KafkaConfig:
        return member_config(
            self.config.group_id,
            f"diffstream-notifier-{self.instance_id}",
            session_timeout_ms=self.config.session_timeout_ms,
            max_poll_interval_ms=self.config.max_poll_interval_ms,
        )

    def _throttle(self, consumer: Consumer, paused: bool) -> bool:
        """Pause every partition while ``max_in_flight`` deliveries are under way: a memory
        guard over all endpoints (one failing endpoint holds at most its own queue)."""
        full = self.tracker.in_flight() >= self.config.max_in_flight
        if full:
            consumer.pause(consumer.assignment())  # again: a rebalance may have added some
        elif paused:
            consumer.resume(consumer.assignment())
        return full

    def _finish(self, consumer: Consumer, producer: Producer) -> None:
        """Give deliveries under way a grace period, then commit what is done."""
        deadline = time.monotonic() + self.config.shutdown_grace_s
        consumer.pause(consumer.assignment())
        while self.tracker.in_flight() and time.monotonic() < deadline:
            self._drain(producer)
            consumer.poll(0.05)
        self._drain(producer)
        self._commit(consumer, producer)

    # -- one event ------------------------------------------------------------------------

    def _handle(self, message: Message, producer: Producer) -> None:
        tp = (message.topic() or "", message.partition() or 0)
        offset = message.offset() or 0
        epoch = self.tracker.add(tp, offset)
        if message.value() is None:  # a tombstone (the status topic is compacted): no event
            self.tracker.done(tp, offset, epoch)
            return
        try:
            decoded = self.codec.decode_message(message)
        except DecodeError as error:
            log.warning("dead-lettering %s: %s", coordinates(message), error)
            self._dead_letter(producer, message, error, None)
            self.tracker.done(tp, offset, epoch)
            return
        delivery = plan_delivery(decoded.event, decoded.value, self.settings.limits, offset=offset)
        if isinstance(delivery, Uncallable):
            log.warning(
                "not calling the callback %s of %s: %s",
                delivery.shown_url,
                coordinates(message),
                delivery.reason,
            )
            self.outcomes["uncallable"] = self.outcomes.get("uncallable", 0) + 1
            delivery = None
        if delivery is None:
            self.tracker.done(tp, offset, epoch)
            return
        assert self._deliverer is not None
        deliver = traced_delivery(
            self._tracer, decoded.value, delivery, self._deliverer.deliver(delivery)
        )
        future = asyncio.run_coroutine_threadsafe(deliver, self._loop)
        self._futures[(tp, offset)] = future
        self.metrics.in_flight.inc()
        future.add_done_callback(
            lambda f: self._finished.put(_Finished(tp, offset, epoch, message, delivery, f))
        )

    def _drain(self, producer: Producer) -> None:
        """Act on finished deliveries (on the polling thread: it owns the tracker)."""
        while True:
            try:
                item = self._finished.get_nowait()
            except queue.Empty:
                return
            self._futures.pop((item.tp, item.offset), None)
            self.metrics.in_flight.dec()
            if item.future.cancelled():
                continue  # partition lost or stopping: whoever reads it next delivers it
            try:
                result = item.future.result()
            except Exception as error:  # a bug in one delivery must not stop the others
                log.exception("webhook %s crashed", item.delivery.webhook_id)
                result = DeliveryResult("gave_up", 0, f"{type(error).__name__}: {error}")
            self.outcomes[result.outcome] = self.outcomes.get(result.outcome, 0) + 1
            if result.outcome in DEAD_LETTER_OUTCOMES:
                failure = WebhookDeliveryError(
                    f"{result.outcome} after {result.attempts} attempts: {result.detail}"
                )
                # Turned away without a request (a full queue, a host known not to exist):
                # the first of those is logged already, not one line per event of a burst.
                log.log(
                    logging.DEBUG if result.attempts == 0 else logging.WARNING,
                    "webhook %s to %s: %s",
                    item.delivery.webhook_id,
                    redact_url(item.delivery.url),
                    failure,
                )
                self._dead_letter(producer, item.message, failure, item.delivery)
                self.metrics.dead_letters.labels(result.outcome).inc()
            self.tracker.done(item.tp, item.offset, item.epoch)

    def _dead_letter(
        self,
        producer: Producer,
        message: Message,
        error: BaseException,
        delivery: Delivery | None,
    ) -> None:
        letter = dead_letter(self.settings.topic(WEBHOOKS_DLQ), message, error)
        headers = list(letter.headers)
        if delivery is not None:
            headers += [
                (URL_HEADER, redact_url(delivery.url).encode()),
                (ID_HEADER, delivery.webhook_id.encode()),
            ]
        producer.produce(
            letter.topic, letter.value, letter.key, headers=headers, on_delivery=self._on_dlq
        )

    def _on_dlq(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._dlq_errors.append(str(error))

    # -- offsets --------------------------------------------------------------------------

    def _commit(
        self, consumer: Consumer, producer: Producer, only: set[TopicPartitionKey] | None = None
    ) -> None:
        offsets = self.tracker.committable(only)
        if not offsets:
            return
        # Dead letters first: an offset is committed only once its dead letter is durable.
        if producer.flush(30) > 0 or self._dlq_errors:
            raise SinkError(f"dead letters not written, offsets not committed: {self._dlq_errors}")
        try:
            consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                asynchronous=False,
            )
        except KafkaException as exc:
            log.warning("offset commit failed (retried at the next interval): %s", exc)
            return
        self.tracker.committed(offsets)

    def _on_revoke(
        self, consumer: Consumer, producer: Producer, partitions: list[TopicPartition]
    ) -> None:
        self._drain(producer)
        self._commit(consumer, producer, {(tp.topic, tp.partition) for tp in partitions})
        self._forget(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            key = (tp.topic, tp.partition)
            for (other, _), future in list(self._futures.items()):
                if other == key:
                    future.cancel()
            self.tracker.forget(key)
