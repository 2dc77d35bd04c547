"""The end-to-end path `make demo` runs against a running stack: handwritten digits from a
mixed load of interactive requests and a small backfill, with live progress, a summary
table and a contact sheet of every image."""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import TopicPartition
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from diffstream.exceptions import DiffstreamError
from diffstream.kafka import make_consumer, make_producer
from diffstream.s3 import make_s3_client, read_object, split_uri
from diffstream.settings import Settings
from infra.contact_sheet import Tile, write_contact_sheet
from infra.together import run_every_role
from processors.store.builtins import push_builtins
from producers.client.events import Event
from producers.client.outcome_reader import OutcomeReader
from producers.client.publisher import CLOCK_SKEW, Publisher
from schemas.builders import new_request
from schemas.codec import Codec
from schemas.events import EventName
from schemas.exceptions import ValidationError
from schemas.prompts import DIGIT_WORDS
from schemas.topics import REQUESTS
from schemas.validation import check_request

log = logging.getLogger(__name__)


DIGITS = "digits"
# The demo's requests belong to this tenant, so that its key shows them in the web page.
DEMO_TENANT = "demo"
SIDE = 64
STEPS = 20
INTERACTIVE = 10  # one of each digit
BACKFILL = 20
TIMEOUT_S = 300


class DemoError(DiffstreamError):
    """A step of the demo did not do what it should."""


@dataclass
class DemoRequest:
    """One published request and what became of it."""

    request_id: str
    prompt: str
    lane: str
    status: str = "pending"
    latency_s: float | None = None
    uri: str | None = None
    reason: str | None = None
    # The model revision it ran on (from the model store; None for a built-in loaded as such).
    revision: str | None = None


@dataclass(frozen=True, slots=True)
class DemoReport:
    """Every request of the run, and the contact sheet of their images."""

    requests: list[DemoRequest]
    sheet: Path


def run_demo(settings: Settings, console: Console) -> DemoReport:
    """The Kafka and S3 round trips, then a mixed load of digits through every role."""
    for step in (*_kafka_round_trip(settings), *_s3_round_trip(settings)):
        console.print(f"[green]ok[/green] {step}")
    for pushed in push_builtins(settings):
        console.print(f"[green]ok[/green] model store: {pushed.name}@{pushed.prod} is prod")
    requests = _generate(settings, console)
    console.print(_summary(requests))
    sheet = _contact_sheet(settings, requests)
    console.print(f"[green]ok[/green] contact sheet of {len(requests)} images: {_short(sheet)}")
    failed = [r for r in requests if r.status != "completed"]
    if failed:
        raise DemoError(f"{len(failed)} of {len(requests)} requests did not complete")
    _http_hint(settings, console)
    return DemoReport(requests, sheet)


def _http_hint(settings: Settings, console: Console) -> None:
    """A key of the demo's own and the curl line that submits over HTTP with it."""
    from producers.gateway.keys import create_key  # noqa: PLC0415
    from producers.gateway.settings import GatewaySettings  # noqa: PLC0415

    gateway = GatewaySettings()
    key = create_key(
        settings, DEMO_TENANT, rate_per_s=10, images_per_min=600, max_in_flight=100
    ).key
    body = '{"prompt": "a handwritten 7", "model": "digits"}'
    console.print(
        "[green]ok[/green] over HTTP, with `diffstream run --gateway` running "
        "(or `diffstream gateway` beside `diffstream run`):"
    )
    console.print(
        f'curl -s -H "Authorization: Bearer {key}" -H "content-type: application/json" '
        f"-d '{body}' http://{gateway.host}:{gateway.port}/v1/generations",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    console.print("[green]ok[/green] the web page, signed in, the demo's images in its gallery:")
    console.print(
        f"open http://{gateway.host}:{gateway.port}/#key={key}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _generate(settings: Settings, console: Console) -> list[DemoRequest]:
    """Publish a small backfill, then one interactive request per digit; follow them all
    to their completed events while every role runs on threads of this process."""
    stop = threading.Event()
    roles = threading.Thread(target=run_every_role, args=(settings, stop), name="roles")
    roles.start()
    try:
        since = datetime.now(UTC) - CLOCK_SKEW
        with Publisher(settings) as publisher, OutcomeReader(settings, since) as reader:
            try:
                publisher.submit("a handwritten cat", model=DIGITS)
            except ValidationError as refused:
                console.print(f"[green]ok[/green] refused before publishing: {refused}")
            requests = _publish(publisher)
            console.print(
                f"[green]ok[/green] published {BACKFILL} backfill and {INTERACTIVE} "
                f"interactive requests for model {DIGITS!r}"
            )
            _follow(reader, requests, console)
    finally:
        stop.set()
        roles.join(60)
    return requests


def _publish(publisher: Publisher) -> list[DemoRequest]:
    # The backfill goes first: the interactive requests overtake it.
    batch_id = f"demo-{uuid.uuid4().hex[:8]}"
    backfill = [
        {"prompt": f"a handwritten {i % 10}", "lane": "batch", "batch_id": batch_id, "seed": i}
        for i in range(BACKFILL)
    ]
    interactive = [{"prompt": DIGIT_WORDS[d], "seed": 100 + d} for d in range(INTERACTIVE)]
    common = {
        "model": DIGITS,
        "width": SIDE,
        "height": SIDE,
        "steps": STEPS,
        "tenant": DEMO_TENANT,
    }
    requests: list[DemoRequest] = []
    for load in (backfill, interactive):
        ids = publisher.submit_many([{**common, **fields} for fields in load])
        requests += [
            DemoRequest(request_id, str(fields["prompt"]), str(fields.get("lane", "interactive")))
            for request_id, fields in zip(ids, load, strict=True)
        ]
    return requests


def _follow(reader: OutcomeReader, requests: list[DemoRequest], console: Console) -> None:
    by_id = {r.request_id: r for r in requests}
    with Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        lanes = {
            lane: progress.add_task(lane, total=sum(r.lane == lane for r in requests))
            for lane in ("interactive", "batch")
        }
        deadline = time.monotonic() + TIMEOUT_S
        while any(r.status == "pending" for r in requests) and time.monotonic() < deadline:
            for event in reader.poll(0.5):
                request = by_id.get(event.request_id)
                if request is None or request.status != "pending":
                    continue
                _record(request, event)
                progress.advance(lanes[request.lane])


def _record(request: DemoRequest, event: Event) -> None:
    request.status = event.kind
    if event.kind == "completed":
        request.latency_s = float(event.value["timings"]["end_to_end_s"])
        request.uri = event.image_uris[0]
        request.revision = event.value.get("revision")
    else:
        request.reason = f"{event.error_code}: {event.value.get('message', '')}"


def _summary(requests: list[DemoRequest]) -> Table:
    table = Table("request_id", "prompt", "lane", "status", "latency")
    table.add_column("object key", overflow="fold")
    for r in requests:
        colour = {"completed": "green", "pending": "yellow"}.get(r.status, "red")
        latency = f"{r.latency_s:.2f}s" if r.latency_s is not None else "-"
        key = r.uri.removeprefix("s3://").partition("/")[2] if r.uri else r.reason or "-"
        table.add_row(r.request_id, r.prompt, r.lane, f"[{colour}]{r.status}", latency, key)
    return table


def _contact_sheet(settings: Settings, requests: list[DemoRequest]) -> Path:
    client = make_s3_client(settings)
    tiles = []
    for r in requests:
        image = None
        if r.uri is not None:
            image = Image.open(io.BytesIO(read_object(client, *split_uri(r.uri))))
        tiles.append(Tile(image, r.prompt))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = settings.home / "demo" / f"contact-sheet-{stamp}.png"
    return write_contact_sheet(tiles, path)


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
    fetched = read_object(client, settings.s3_bucket, key)
    if fetched != body:
        raise DemoError(f"GET s3://{settings.s3_bucket}/{key} returned other bytes")
    yield f"GET returned the same {len(body)} bytes"
    client.remove_object(settings.s3_bucket, key)
    yield "deleted it"
