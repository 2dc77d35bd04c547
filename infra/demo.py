"""The end-to-end path `make demo` runs against a running stack."""

from __future__ import annotations

import hashlib
import io
import logging
import uuid
from collections.abc import Iterator

from confluent_kafka import TopicPartition

from diffstream.exceptions import DiffstreamError
from diffstream.kafka import make_consumer, make_producer
from diffstream.s3 import make_s3_client
from diffstream.settings import Settings
from schemas.builders import new_request
from schemas.codec import Codec
from schemas.events import EventName
from schemas.topics import REQUESTS
from schemas.validation import check_request

log = logging.getLogger(__name__)


class DemoError(DiffstreamError):
    """A step of the demo did not do what it should."""


def run_demo(settings: Settings) -> Iterator[str]:
    """Publish and consume one request event, then PUT, GET and delete an object; yield steps."""
    yield from _kafka_round_trip(settings)
    yield from _s3_round_trip(settings)


def _kafka_round_trip(settings: Settings) -> Iterator[str]:
    topic = settings.topic(REQUESTS)
    codec = Codec(settings)
    request = new_request("a lighthouse at dawn", width=64, height=64, steps=10, seed=7)
    check_request(request, settings.limits)
    key = str(request["request_id"])
    payload = codec.encode(EventName.REQUEST, request, topic=topic)
    delivered: list[TopicPartition] = []

    def on_delivery(error: object, message: object) -> None:
        if error is not None:
            raise DemoError(f"delivery to {topic} failed: {error}")
        delivered.append(TopicPartition(topic, message.partition(), message.offset()))  # type: ignore[attr-defined]

    producer = make_producer(settings, {"enable.idempotence": True, "acks": "all"})
    producer.produce(
        topic,
        payload,
        key.encode(),
        headers=codec.headers(EventName.REQUEST),
        on_delivery=on_delivery,
    )
    if producer.flush(30) != 0 or not delivered:
        raise DemoError(f"the event was not acknowledged by {settings.kafka_bootstrap}")
    where = delivered[0]
    yield f"published GenerationRequest {key} to {topic}[{where.partition}]@{where.offset}"

    consumer = make_consumer(
        settings, {"group.id": f"diffstream-demo-{key}", "isolation.level": "read_committed"}
    )
    try:
        consumer.assign([where])
        message = consumer.poll(30)
    finally:
        consumer.close()
    if message is None or message.error():
        raise DemoError(f"could not read the event back from {topic}[{where.partition}]")
    decoded = codec.decode(
        message.value(), topic=topic, partition=message.partition(), offset=message.offset()
    )
    if decoded.value != request:
        raise DemoError(f"the event read back differs from the one published: {decoded.value}")
    yield (
        f"consumed it back: {len(payload)} bytes of Avro ({decoded.wire_format}), "
        f"prompt {decoded.value['prompt']!r}"
    )


def _s3_round_trip(settings: Settings) -> Iterator[str]:
    client = make_s3_client(settings)
    key = f"demo/{uuid.uuid4()}.txt"
    body = b"diffstream demo object\n"
    client.put_object(
        settings.s3_bucket,
        key,
        io.BytesIO(body),
        len(body),
        content_type="text/plain",
        metadata={"sha256": hashlib.sha256(body).hexdigest()},
    )
    yield f"PUT s3://{settings.s3_bucket}/{key}"
    response = client.get_object(settings.s3_bucket, key)
    try:
        fetched = response.read()
    finally:
        response.close()
        response.release_conn()
    if fetched != body:
        raise DemoError(f"GET s3://{settings.s3_bucket}/{key} returned other bytes")
    yield f"GET returned the same {len(body)} bytes"
    client.remove_object(settings.s3_bucket, key)
    yield "deleted it"
