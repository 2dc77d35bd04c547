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
from typing import Any

from confluent_kafka import TopicPartition

from diffstream.exceptions import DiffstreamError
from diffstream.kafka import make_consumer, make_producer
from diffstream.s3 import make_s3_client
from diffstream.settings import Settings
from schemas.builders import new_request
from schemas.codec import Codec
from schemas.events import EventName
from schemas.exceptions import ValidationError
from schemas.topics import REQUESTS, RESULTS
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
    # The processor brings torch: imported here so that the rest of infra stays light.
    from processors.engine.engine import InferenceEngine  # noqa: PLC0415
    from processors.serve import quiet_model_libraries  # noqa: PLC0415
    from processors.worker import StreamProcessor  # noqa: PLC0415

    quiet_model_libraries()
    engine = InferenceEngine(settings.engine)
    started = time.perf_counter()
    engine.load()
    yield f"loaded tiny-sd on {engine.device} in {time.perf_counter() - started:.1f}s"
    try:
        check_request(new_request("too odd", width=65, height=64), settings.limits)
    except ValidationError as refused:
        yield f"refused before publishing: {refused.errors[0].message}"

    codec = Codec(settings)
    requests = [
        new_request(prompt, width=64, height=64, steps=10, seed=index)
        for index, prompt in enumerate(PROMPTS)
    ]
    producer = make_producer(settings, {"enable.idempotence": True, "acks": "all"})
    for request in requests:
        check_request(request, settings.limits)
        producer.produce(
            settings.topic(REQUESTS),
            codec.encode(EventName.REQUEST, request),
            str(request["request_id"]).encode(),
            headers=codec.headers(EventName.REQUEST),
        )
    if producer.flush(30) != 0:
        raise DemoError(f"requests were not acknowledged by {settings.kafka_bootstrap}")
    yield f"published {len(requests)} requests to {settings.topic(REQUESTS)}"

    stop = threading.Event()
    processor = StreamProcessor(settings, engine)
    worker = threading.Thread(target=processor.run, args=(stop,), name="processor")
    worker.start()
    try:
        wanted = {str(r["request_id"]) for r in requests}
        results = _read_results(settings, codec, wanted, timeout_s=120)
    finally:
        stop.set()
        worker.join(60)
    out = settings.home / "demo"
    out.mkdir(parents=True, exist_ok=True)
    for result in results:
        image = result["images"][0]
        path = out / f"{result['request_id']}.png"
        path.write_bytes(image["data"])
        yield (
            f"{result['request']['prompt']!r}: seed {image['seed']}, "
            f"{image['width']}x{image['height']}, queued {result['timings']['queued_s']:.2f}s, "
            f"inference {result['timings']['inference_s']:.2f}s -> {_short(path)}"
        )
    yield f"{len(results)} images in {processor.cycles} batches"


def _read_results(
    settings: Settings, codec: Codec, wanted: set[str], timeout_s: float
) -> list[dict[str, Any]]:
    consumer = make_consumer(
        settings,
        {
            "group.id": f"diffstream-demo-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        },
    )
    consumer.subscribe([settings.topic(RESULTS)])
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while len(found) < len(wanted) and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            result = codec.decode(message.value()).value
            if str(result["request_id"]) in wanted:
                found[str(result["request_id"])] = result
    finally:
        consumer.close()
    if len(found) < len(wanted):
        raise DemoError(f"only {len(found)} of {len(wanted)} results within {timeout_s:.0f}s")
    return list(found.values())


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
