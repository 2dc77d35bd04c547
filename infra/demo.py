"""The end-to-end path `make demo` runs against a running stack."""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka import TopicPartition

from diffstream.exceptions import DiffstreamError
from diffstream.kafka import make_consumer, make_producer
from diffstream.s3 import make_s3_client
from diffstream.settings import Settings
from infra.together import run_every_role
from producers.publisher import Publisher
from schemas.builders import new_request
from schemas.codec import Codec
from schemas.events import EventName
from schemas.exceptions import ValidationError
from schemas.topics import REQUESTS
from schemas.validation import check_request

log = logging.getLogger(__name__)


PROMPTS = (
    "a lighthouse at dawn",
    "a red fox in the snow",
    "a city skyline at night",
    "a bowl of ramen",
    "a sailing boat on a calm sea",
    "a cat wearing a hat",
)


class DemoError(DiffstreamError):
    """A step of the demo did not do what it should."""


def run_demo(settings: Settings) -> Iterator[str]:
    """The Kafka and S3 round trips, then images from tiny-sd through a processor."""
    yield from _kafka_round_trip(settings)
    yield from _s3_round_trip(settings)
    yield from _generate_images(settings)


def _generate_images(settings: Settings) -> Iterator[str]:
    """Publish through the client library, run every role, wait for each stored image."""
    stop = threading.Event()
    roles = threading.Thread(target=run_every_role, args=(settings, stop), name="roles")
    roles.start()
    try:
        with Publisher(settings) as publisher:
            try:
                publisher.submit("too odd", width=65, height=64)
            except ValidationError as refused:
                yield f"refused before publishing: {refused.errors[0].message}"
            started = time.perf_counter()
            ids = [
                publisher.submit(prompt, width=64, height=64, steps=10, seed=index)
                for index, prompt in enumerate(PROMPTS)
            ]
            yield f"published {len(ids)} requests to {settings.topic(REQUESTS)}"
            out = settings.home / "demo"
            out.mkdir(parents=True, exist_ok=True)
            client = make_s3_client(settings)
            for request_id, prompt in zip(ids, PROMPTS, strict=True):
                done = publisher.wait(request_id, timeout_s=180)
                uri = done.image_uris[0]
                bucket, _, key = uri.removeprefix("s3://").partition("/")
                path = out / f"{request_id}.png"
                client.fget_object(bucket, key, str(path))
                timings = done.value["timings"]
                yield (
                    f"{prompt!r} -> {uri} (queued {timings['queued_s']:.2f}s, inference "
                    f"{timings['inference_s']:.2f}s, end to end {timings['end_to_end_s']:.2f}s)"
                )
            elapsed = time.perf_counter() - started
            yield f"{len(ids)} images stored in {elapsed:.1f}s; local copies in {_short(out)}"
    finally:
        stop.set()
        roles.join(60)


def _short(path: Path) -> str:
    try:
        return f"~/{path.relative_to(Path.home())}"
    except ValueError:
        return str(path)


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
