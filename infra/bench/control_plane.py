"""Control plane: request events through Kafka with Avro and no model.

``events_per_core``: encode, produce, consume, decode and validate GenerationRequests on
one fresh topic, divided by this process's CPU time (every thread, librdkafka's included;
the broker's own CPU is not counted). ``codec_per_core``: the same records through a bare
fastavro encode+decode on this thread, the baseline of ``control_plane_vs_codec_ratio``.
``null_model_ceiling``: requests/s end to end through the whole pipeline with the ``null``
model, which returns a flat image without compute.
"""

from __future__ import annotations

import io
import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from confluent_kafka.admin import NewTopic
from fastavro import schemaless_reader, schemaless_writer

from diffstream.kafka import make_admin, make_consumer, make_producer
from diffstream.settings import Settings
from infra.bench.efficiency import Workload
from infra.bench.exceptions import BenchError
from infra.bench.harness import Harness
from schemas.builders import new_request
from schemas.catalog import load_catalog
from schemas.codec import Codec
from schemas.events import EventName
from schemas.validation import validate_request

PARTITIONS = 12
NULL_WORK = Workload(model="null", side=64, steps=1)


@dataclass(frozen=True, slots=True)
class ControlPlaneRun:
    """One run of ``events`` request events: CPU seconds and wall seconds."""

    events: int
    cpu_s: float
    wall_s: float

    @property
    def per_core(self) -> float:
        """Events per second of CPU time."""
        return self.events / self.cpu_s

    @property
    def wall(self) -> float:
        """Events per second of wall time."""
        return self.events / self.wall_s


def events_per_core(settings: Settings, events: int, replication: int = 1) -> ControlPlaneRun:
    """Encode+produce ``events`` requests to a fresh topic, then consume+decode them all.
    With ``replication`` 3 the topic keeps min.insync.replicas 2, as in production."""
    topic = f"bench{uuid.uuid4().hex[:8]}-control-plane"
    admin = make_admin(settings)
    config = {"min.insync.replicas": "2"} if replication >= 3 else {}
    new = NewTopic(topic, PARTITIONS, replication, config=config)
    for future in admin.create_topics([new]).values():
        future.result()
    try:
        return _measure(settings, topic, events)
    finally:
        for future in admin.delete_topics([topic], operation_timeout=30).values():
            future.result()


def requests(events: int) -> list[dict[str, Any]]:
    """The records both measures send."""
    return [new_request(f"a fox in the snow {i}", seed=i) for i in range(events)]


def codec_per_core(events: int) -> float:
    """Events per CPU second of a bare fastavro encode+decode of the same records, with
    the request schema parsed once: what the control plane would cost with nothing else."""
    schema = load_catalog().latest(EventName.REQUEST).parsed
    records = requests(events)
    cpu = time.process_time()
    for record in records:
        buffer = io.BytesIO()
        schemaless_writer(buffer, schema, record)
        buffer.seek(0)
        schemaless_reader(buffer, schema, None)
    return events / (time.process_time() - cpu)


def _measure(settings: Settings, topic: str, events: int) -> ControlPlaneRun:
    codec = Codec(settings)
    records = requests(events)
    producer = make_producer(settings, {"acks": "all"})
    consumer = make_consumer(settings, {"group.id": f"{topic}-reader", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    wall, cpu = time.perf_counter(), time.process_time()
    for record in records:
        value = codec.encode(EventName.REQUEST, record)
        while True:
            try:
                producer.produce(topic, value, str(record["request_id"]).encode())
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.01)
        producer.poll(0)
    if producer.flush(60) > 0:
        raise BenchError("the control-plane benchmark could not deliver every event in 60 s")
    read = 0
    deadline = time.monotonic() + 60
    while read < events:
        if time.monotonic() > deadline:
            raise BenchError(f"read back {read} of {events} control-plane events in 60 s")
        for message in consumer.consume(1000, 0.1):
            if message.error() is None:
                errors = validate_request(codec.decode(message.value()).value)
                if errors:
                    raise BenchError(f"a control-plane event failed validation: {errors[0]}")
                read += 1
    run = ControlPlaneRun(events, time.process_time() - cpu, time.perf_counter() - wall)
    consumer.close()
    return run


def null_model_ceiling(harness: Harness, requests: int, seed: int = 0) -> float:
    """Requests/s end to end with the null model, ``requests`` published at once."""
    started, ended, _ = harness.round([NULL_WORK.request(seed + i) for i in range(requests)])
    return requests / (ended - started)
