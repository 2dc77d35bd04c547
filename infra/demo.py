"""The end-to-end path `make demo` runs against a running stack."""

from __future__ import annotations

import hashlib
import io
import logging
import uuid
from collections.abc import Iterator

from confluent_kafka import Consumer, Producer, TopicPartition

from diffstream.exceptions import DiffstreamError
from diffstream.s3 import make_s3_client
from diffstream.settings import Settings
from schemas.topics import REQUESTS

log = logging.getLogger(__name__)


class DemoError(DiffstreamError):
    """A step of the demo did not do what it should."""


def run_demo(settings: Settings) -> Iterator[str]:
    """Publish and consume one event, then PUT, GET and delete one object; yield each step."""
    yield from _kafka_round_trip(settings)
    yield from _s3_round_trip(settings)


def _kafka_round_trip(settings: Settings) -> Iterator[str]:
    topic = settings.topic(REQUESTS)
    key = str(uuid.uuid4())
    payload = f"demo event {key}".encode()
    delivered: list[TopicPartition] = []

    def on_delivery(error: object, message: object) -> None:
        if error is not None:
            raise DemoError(f"delivery to {topic} failed: {error}")
        delivered.append(TopicPartition(topic, message.partition(), message.offset()))  # type: ignore[attr-defined]

    producer = Producer(settings.kafka_config({"enable.idempotence": True, "acks": "all"}))
    producer.produce(topic, payload, key.encode(), on_delivery=on_delivery)
    if producer.flush(30) != 0 or not delivered:
        raise DemoError(f"the event was not acknowledged by {settings.kafka_bootstrap}")
    where = delivered[0]
    yield f"published {key} to {topic}[{where.partition}]@{where.offset}"

    consumer = Consumer(
        settings.kafka_config(
            {"group.id": f"diffstream-demo-{key}", "isolation.level": "read_committed"}
        )
    )
    try:
        consumer.assign([where])
        message = consumer.poll(30)
    finally:
        consumer.close()
    if message is None or message.error() or message.value() != payload:
        raise DemoError(f"could not read the event back from {topic}[{where.partition}]")
    yield f"consumed it back ({len(payload)} bytes, key {key})"


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
