"""Images per second of tiny-sd through `diffstream process` against the engine alone.

Both are measured in the same run, on the same engine, with the same size, steps and batch
size. Needs a running stack (`diffstream stack up`). Run: python -m benchmarks.processor
"""

from __future__ import annotations

import argparse
import platform
import threading
import time
import uuid
from typing import Any

import torch

from diffstream.kafka import make_consumer, make_producer
from diffstream.settings import EngineSettings, ProcessorSettings, Settings
from infra.topics import create_topics
from processors.engine.engine import InferenceEngine
from processors.engine.tasks import GenerationTask
from processors.serve import quiet_model_libraries
from processors.worker import StreamProcessor
from schemas.builders import new_request
from schemas.codec import Codec
from schemas.events import EventName
from schemas.topics import REQUESTS, RESULTS

SIZE: dict[str, Any] = {"width": 64, "height": 64, "steps": 10, "guidance_scale": 7.5}


def engine_alone(engine: InferenceEngine, batch: int, images: int) -> float:
    """Images per second of back-to-back ``generate`` calls of ``batch`` tasks."""
    tasks = [
        GenerationTask(request_id=str(i), model="tiny-sd", prompt=f"bench {i}", seed=i, **SIZE)
        for i in range(images)
    ]
    started = time.perf_counter()
    for first in range(0, images, batch):
        engine.generate(tasks[first : first + batch])
    return images / (time.perf_counter() - started)


def through_processor(base: Settings, engine: InferenceEngine, batch: int, images: int) -> float:
    """Images per second from publishing ``images`` requests to reading every result."""
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    settings = base.model_copy(
        update={
            "topic_prefix": prefix,
            "processor": ProcessorSettings(group_id=f"{prefix}processors", max_batch_size=batch),
        }
    )
    create_topics(settings)
    codec = Codec(settings)
    processor = StreamProcessor(settings, engine)
    stop = threading.Event()
    worker = threading.Thread(target=processor.run, args=(stop,))
    worker.start()
    try:
        _round(settings, codec, batch)  # joins the group and warms every path up
        started = time.perf_counter()
        _round(settings, codec, images)
        return images / (time.perf_counter() - started)
    finally:
        stop.set()
        worker.join()


def _round(settings: Settings, codec: Codec, count: int) -> None:
    requests = [new_request(f"bench {i}", seed=i, **SIZE) for i in range(count)]
    wanted = {str(r["request_id"]) for r in requests}
    consumer = make_consumer(
        settings,
        {
            "group.id": f"bench-reader-{uuid.uuid4()}",
            "auto.offset.reset": "latest",
            "isolation.level": "read_committed",
        },
    )
    consumer.subscribe([settings.topic(RESULTS)])
    while not consumer.assignment():
        consumer.poll(0.05)
    producer = make_producer(settings)
    for request in requests:
        value = codec.encode(EventName.REQUEST, request)
        producer.produce(settings.topic(REQUESTS), value, str(request["request_id"]).encode())
    producer.flush(30)
    while wanted:
        message = consumer.poll(0.05)
        if message is not None and message.error() is None:
            wanted.discard(str(codec.decode(message.value()).value["request_id"]))
    consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    quiet_model_libraries()
    settings = Settings()
    engine = InferenceEngine(EngineSettings(device="cpu", cpu_threads=args.threads))
    engine.load()
    print(
        f"{platform.python_implementation()} {platform.python_version()}, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads, tiny-sd 64x64, 10 steps"
    )
    print(f"{'batch':>5} {'engine img/s':>13} {'process img/s':>14} {'ratio':>6}")
    for batch in (1, 8):
        bare = engine_alone(engine, batch, args.images)
        piped = through_processor(settings, engine, batch, args.images)
        print(f"{batch:>5} {bare:>13.2f} {piped:>14.2f} {piped / bare:>6.2f}")


if __name__ == "__main__":
    main()
