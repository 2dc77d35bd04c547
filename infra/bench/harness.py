"""A running pipeline of its own for one measurement: topics, processor, image sink, tracker.

Every harness gets fresh topics and consumer groups under a prefix of its own, runs the
processor and the image sink on threads of this process (against a shared, already loaded
engine), and follows ``completed``/``failed`` from the beginning of its own topics, so no
event is missed and none of another run is seen. The topics are deleted on exit.
"""

from __future__ import annotations

import cProfile
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from diffstream.closing import Closing
from diffstream.kafka import make_consumer
from diffstream.settings import ProcessorSettings, Settings, SinkSettings
from infra.bench.exceptions import BenchError
from infra.topic_provisioning import create_topics, delete_topics
from producers.client.publisher import Publisher
from schemas.codec import Codec
from schemas.topics import COMPLETED, FAILED, TOPICS

if TYPE_CHECKING:
    from processors.engine.engine import InferenceEngine

log = logging.getLogger(__name__)

WAIT_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the bench reads back for one request."""

    request_id: str
    received: float  # perf_counter when the completed event was read
    inference_s: float  # model time, as the processor measured it
    timings: dict[str, float | None]  # the completed event's own stage timings


def isolated(settings: Settings, label: str, processor: Mapping[str, Any]) -> Settings:
    """``settings`` with topics, groups and instance ids of a fresh prefix of its own."""
    prefix = f"bench{uuid.uuid4().hex[:8]}-{label}."
    return settings.model_copy(
        update={
            "topic_prefix": prefix,
            "processor": ProcessorSettings(
                group_id=f"{prefix}processors", instance_id=f"{prefix}worker", **processor
            ),
            "sink": SinkSettings(group_id=f"{prefix}image-sink", instance_id=f"{prefix}sink"),
        }
    )


class Tracker:
    """Reads this run's completed and failed topics from their beginning."""

    def __init__(self, settings: Settings, codec: Codec) -> None:
        self._codec = codec
        self._failed_topic = settings.topic(FAILED)
        self._consumer = make_consumer(
            settings,
            {
                "group.id": f"{settings.topic_prefix}tracker",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 10,
            },
        )
        partitions = {spec.name: settings.topic_partitions or spec.partitions for spec in TOPICS}
        self._consumer.assign(
            [
                TopicPartition(settings.topic(name), partition, OFFSET_BEGINNING)
                for name in (COMPLETED, FAILED)
                for partition in range(partitions[name])
            ]
        )
        self.outcomes: dict[str, Outcome] = {}

    def until(self, request_ids: Iterable[str], timeout_s: float = WAIT_TIMEOUT_S) -> None:
        """Read until every one of ``request_ids`` completed; ``BenchError`` if one failed."""
        wanted = {str(request_id) for request_id in request_ids} - set(self.outcomes)
        deadline = time.monotonic() + timeout_s
        while wanted:
            if time.monotonic() > deadline:
                raise BenchError(f"{len(wanted)} requests had no outcome within {timeout_s:.0f}s")
            message = self._consumer.poll(0.05)
            if message is None or message.error() is not None:
                continue
            received = time.perf_counter()
            event = self._codec.decode(message.value()).value
            request_id = str(event["request_id"])
            if message.topic() == self._failed_topic:
                raise BenchError(
                    f"request {request_id} failed: {event.get('error_code')}: "
                    f"{event.get('message')}"
                )
            self.outcomes[request_id] = Outcome(
                request_id,
                received,
                float(event["timings"]["inference_s"]),
                dict(event["timings"]),
            )
            wanted.discard(request_id)

    def close(self) -> None:
        """Leave without committing anything."""
        self._consumer.close()


class Harness(Closing):
    """Processor, image sink, publisher and tracker on fresh topics; a context manager."""

    def __init__(
        self,
        settings: Settings,
        engine: InferenceEngine,
        *,
        label: str,
        processor: Mapping[str, Any],
        profile_dir: Path | None = None,
    ) -> None:
        self.label = label
        self.settings = isolated(settings, label, processor)
        self._engine = engine
        self._profile_dir = profile_dir
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._failures: list[BaseException] = []
        self.codec = Codec(self.settings)
        self.publisher: Publisher | None = None
        self.tracker: Tracker | None = None
        self.processor: Any = None  # the StreamProcessor, once entered (its pipeline's events)

    def __enter__(self) -> Self:
        from processors.worker import StreamProcessor  # noqa: PLC0415  # brings torch
        from sinks.images import ImageSink  # noqa: PLC0415

        create_topics(self.settings)
        self.processor = processor = StreamProcessor(self.settings, self._engine, codec=self.codec)
        sink = ImageSink(self.settings, codec=self.codec)
        self.tracker = Tracker(self.settings, self.codec)
        self.publisher = Publisher(self.settings, codec=self.codec)
        for role, run in (("processor", processor.run), ("image-sink", sink.run)):
            thread = threading.Thread(target=self._guarded, args=(role, run), name=role)
            thread.start()
            self._threads.append(thread)
        return self

    def close(self) -> None:
        """Stop the roles, close the clients and delete the harness's topics."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        if self.publisher is not None:
            self.publisher.close()
        if self.tracker is not None:
            self.tracker.close()
        delete_topics(self.settings)

    def round(self, requests: list[dict[str, Any]]) -> tuple[float, float, list[Outcome]]:
        """Publish ``requests`` (publisher keyword arguments) at once, wait for every one;
        (start, end) as perf_counter readings and the outcomes."""
        publisher, tracker = self._clients()
        started = time.perf_counter()
        ids = [publisher.submit(wait_delivery=False, **fields) for fields in requests]
        publisher.flush()
        tracker.until(ids)
        self._check_roles()
        outcomes = [tracker.outcomes[request_id] for request_id in ids]
        return started, max(outcome.received for outcome in outcomes), outcomes

    def one(self, fields: Mapping[str, Any]) -> tuple[float, Outcome]:
        """Publish one request and wait for it: (seconds end to end, its outcome)."""
        publisher, tracker = self._clients()
        started = time.perf_counter()
        request_id = publisher.submit(**fields)
        tracker.until([request_id])
        outcome = tracker.outcomes[request_id]
        return outcome.received - started, outcome

    def _clients(self) -> tuple[Publisher, Tracker]:
        if self.publisher is None or self.tracker is None:
            raise BenchError("use the harness in a with block")
        return self.publisher, self.tracker

    def _guarded(self, role: str, run: Callable[[threading.Event], None]) -> None:
        profile = cProfile.Profile() if self._profile_dir is not None else None
        try:
            if profile is not None:
                profile.enable()
            run(self._stop)
        except BaseException as exc:
            log.exception("%s stopped", role)
            self._failures.append(exc)
            self._stop.set()
        finally:
            if profile is not None and self._profile_dir is not None:
                profile.disable()
                self._profile_dir.mkdir(parents=True, exist_ok=True)
                profile.dump_stats(self._profile_dir / f"{self.label}-{role}.prof")

    def _check_roles(self) -> None:
        if self._failures:
            raise BenchError(f"a role of the {self.label} run stopped: {self._failures[0]}")
