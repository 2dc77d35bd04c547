"""The status view as a faust-streaming app: tables fold the events, pages serve them.

Tables live in memory (``store="memory://"``); a restarted view rebuilds them from its
changelog topics, which faust creates itself (``<app id>-requests-changelog`` and
``<app id>-batches-changelog``). Source events are read with read_committed: faust has
no setting for it outside its own exactly-once mode, so the consumer thread sets it.
One view instance serves every partition; several instances would each hold a share.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.web import Request, Response, View
from prometheus_client import CollectorRegistry, Counter

from diffstream.health import Health
from diffstream.settings import Settings
from schemas import topics
from schemas.codec import Codec
from schemas.exceptions import DecodeError
from sinks.view.exceptions import ViewConfigurationError
from sinks.view.fold import FOLDED, add_counts, batch_deltas, fold, summarize

log = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = (
    topics.REQUESTS,
    topics.REQUESTS_BATCH,
    topics.STATUS,
    topics.COMPLETED,
    topics.FAILED,
)


class _ReadCommittedThread(faust_aiokafka.AIOKafkaConsumerThread):
    """faust's aiokafka consumer thread, reading only committed transactional records."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka takes isolation_level only in its constructor, which faust calls with
        # read_uncommitted unless processing_guarantee is exactly_once; start() reads this.
        consumer._isolation_level = "read_committed"
        return consumer


class _ReadCommittedConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ReadCommittedThread:
        return _ReadCommittedThread(self, loop=self.loop, beacon=self.beacon)


class _ReadCommittedTransport(faust_aiokafka.Transport):
    Consumer = _ReadCommittedConsumer


class _ViewApp(faust.App):
    def _new_transport(self) -> _ReadCommittedTransport:
        return _ReadCommittedTransport(self.conf.broker_consumer, self)


def source_partitions(settings: Settings) -> int:
    """The partition count shared by every source topic (the tables must match it)."""
    counts = {
        settings.topic_partitions or spec.partitions
        for spec in topics.TOPICS
        if spec.name in SOURCES
    }
    if len(counts) != 1:
        raise ViewConfigurationError(
            f"the view's source topics must have one partition count, got {sorted(counts)}; "
            "set DIFFSTREAM_TOPIC_PARTITIONS"
        )
    return counts.pop()


def build_app(
    settings: Settings, *, registry: CollectorRegistry | None = None, health: Health | None = None
) -> faust.App:
    """The view's faust app for ``settings``: one agent, two tables, two pages; events folded
    counted in ``registry``, ``health`` ready after the first rebalance."""
    folded = Counter(
        "diffstream_view_events_folded",
        "Events read by the status view, by event name.",
        ["event"],
        registry=registry or CollectorRegistry(),
    )
    if settings.kafka_security_protocol != "PLAINTEXT":
        raise ViewConfigurationError(
            "diffstream view supports only DIFFSTREAM_KAFKA_SECURITY_PROTOCOL=PLAINTEXT so far"
        )
    partitions = source_partitions(settings)
    app = _ViewApp(
        settings.topic(settings.view.app_id),
        broker=[f"kafka://{server.strip()}" for server in settings.kafka_bootstrap.split(",")],
        broker_client_id=settings.kafka_client_id,
        store="memory://",
        autodiscover=False,
        topic_partitions=partitions,
        topic_replication_factor=settings.topic_replication_factor,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        # Table keys and values are JSON in the changelog; source topics are read raw.
        key_serializer="json",
        value_serializer="json",
        web_bind=settings.view.host,
        web_host=settings.view.host,
        web_port=settings.view.port,
    )
    if health is not None:

        def rebalanced(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
            health.ready()  # joined and the tables assigned

        app.on_rebalance_complete.connect(rebalanced)  # type: ignore[arg-type]  # mode's stub wants a positional-only sender
    requests = app.Table("requests", default=None, partitions=partitions)
    # Keyed "<partition>:<batch_id>": each source partition keeps its own share of a
    # batch's counts (a table write goes to the changelog partition of the event being
    # processed), and a query sums the shares.
    batches = app.Table("batches", default=None, partitions=partitions)
    codec = Codec(settings)
    source = app.topic(
        *(settings.topic(name) for name in SOURCES),
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.agent(source)
    async def fold_events(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            try:
                decoded = codec.decode(
                    event.value,
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                )
            except DecodeError as exc:
                log.warning("skipped %s", exc)
                continue
            if decoded.event not in FOLDED:
                continue
            folded.labels(str(decoded.event)).inc()
            request_id = str(decoded.value["request_id"])
            old = requests.get(request_id)
            new = fold(old, decoded.event, decoded.value)
            if new == old:
                continue
            requests[request_id] = new
            for batch_id, bucket_name, delta in batch_deltas(old, new):
                key = f"{message.partition}:{batch_id}"
                batches[key] = add_counts(batches.get(key), bucket_name, delta)

    @app.page("/requests/{request_id}")
    async def get_request(web: View, request: Request, request_id: str) -> Response:
        view = requests.get(request_id)
        if view is None:
            return web.json(
                {
                    "error": "not_found",
                    "request_id": request_id,
                    "message": "no event about this request has been seen",
                },
                status=404,
            )
        return web.json(view)

    @app.page("/batches/{batch_id}")
    async def get_batch(web: View, request: Request, batch_id: str) -> Response:
        parts = [batches.get(f"{p}:{batch_id}") for p in range(partitions)]
        found = [part for part in parts if part is not None]
        if not found:
            return web.json(
                {
                    "error": "not_found",
                    "batch_id": batch_id,
                    "message": "no request of this batch has been seen",
                },
                status=404,
            )
        return web.json(summarize(batch_id, found))

    return app
