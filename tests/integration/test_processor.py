"""The stream processor against the real broker: every request gets exactly one outcome."""

from __future__ import annotations

import functools
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from diffstream.kafka import make_consumer, make_producer
from diffstream.settings import Settings
from processors.engine.engine import InferenceEngine
from processors.engine.settings import EngineSettings
from processors.worker import StreamProcessor
from schemas.builders import new_request, now_millis
from schemas.codec import Codec
from schemas.dlq import parse_dead_letter
from schemas.events import EventName
from schemas.signals import new_cancel
from schemas.topics import (
    CANCELLATIONS,
    DLQ,
    FAILED,
    PROGRESS,
    REQUESTS,
    REQUESTS_BATCH,
    RESULTS,
)
from tests.integration.isolation import SMALL, isolate
from tests.integration.restarts import assert_one_each, kill_then_rerun
from tests.integration.sinks_support import read_committed as read_committed_events
from tests.integration.threads import on_threads

pytestmark = pytest.mark.integration


def publish(
    settings: Settings,
    requests: list[dict[str, Any]],
    topic: str = REQUESTS,
    producer: Producer | None = None,
) -> None:
    codec = Codec(settings)
    producer = producer or make_producer(settings, {"enable.idempotence": True, "acks": "all"})
    for request in requests:
        producer.produce(
            settings.topic(topic),
            codec.encode(EventName.REQUEST, request),
            str(request["request_id"]).encode(),
        )
    assert producer.flush(30) == 0


# Inference on the CPU is slow: wait longer than the sinks' tests do.
read_committed = functools.partial(read_committed_events, timeout_s=120)


@pytest.fixture
def running(isolated: Settings, engine: InferenceEngine) -> Iterator[StreamProcessor]:
    processor = StreamProcessor(isolated, engine)
    with on_threads(processor.run) as (thread,):
        yield processor
    assert not thread.is_alive(), "the processor did not stop"


def test_forty_requests_give_forty_results(isolated: Settings, running: StreamProcessor) -> None:
    requests = [new_request(f"test image {i}", seed=i, **SMALL) for i in range(40)]
    publish(isolated, requests)
    results = read_committed(isolated, RESULTS, expected=40)
    ids = Counter(str(r["request_id"]) for r in results)
    assert set(ids) == {str(r["request_id"]) for r in requests}
    assert max(ids.values()) == 1, "a request got more than one result"
    for result in results:
        image = result["images"][0]
        assert image["data"].startswith(b"\x89PNG")
        assert (image["width"], image["height"]) == (64, 64)
        assert image["seed"] == result["request"]["seed"]
    assert running.loop.cycles < 40, "requests should have been batched"


def test_bad_events_are_routed_not_fatal(isolated: Settings, running: StreamProcessor) -> None:
    producer = make_producer(isolated)
    producer.produce(isolated.topic(REQUESTS), b"\x00not avro at all", b"poison")
    producer.flush(30)
    invalid = new_request("x", **{**SMALL, "width": 65})
    expired = new_request("late", deadline=now_millis() - timedelta(seconds=1), **SMALL)
    cancelled = new_request("never mind", **SMALL)
    good = new_request("fine", seed=1, **SMALL)
    codec = Codec(isolated)
    cancel = new_cancel(cancelled["request_id"], reason="test")
    producer.produce(
        isolated.topic(CANCELLATIONS),
        codec.encode(EventName.CANCEL, cancel),
        str(cancelled["request_id"]).encode(),
    )
    producer.flush(30)
    time.sleep(1.0)  # the processor's cancellation view follows the topic as it grows
    publish(isolated, [invalid, expired, cancelled, good])

    failed = {str(f["request_id"]): f for f in read_committed(isolated, FAILED, expected=3)}
    assert failed[str(invalid["request_id"])]["error_code"] == "invalid_request"
    assert "width" in failed[str(invalid["request_id"])]["message"]
    assert failed[str(expired["request_id"])]["error_code"] == "expired"
    assert failed[str(cancelled["request_id"])]["error_code"] == "cancelled"
    results = read_committed(isolated, RESULTS, expected=1)
    assert [str(r["request_id"]) for r in results] == [str(good["request_id"])]

    dead = _read_raw(isolated, DLQ)
    assert len(dead) == 1
    letter = parse_dead_letter(dead[0][1])
    assert letter.topic == isolated.topic(REQUESTS)
    assert dead[0][0] == b"\x00not avro at all"


def _read_raw(settings: Settings, topic: str) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    consumer = make_consumer(
        settings,
        {
            "group.id": f"raw-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        },
    )
    consumer.subscribe([settings.topic(topic)])
    found: list[tuple[bytes, list[tuple[str, bytes]]]] = []
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline and not found:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                found.append((message.value() or b"", list(message.headers() or [])))  # type: ignore[arg-type]
    finally:
        consumer.close()
    return found


def test_interactive_lane_overtakes_a_backfill(isolated: Settings, engine: InferenceEngine) -> None:
    backfill = [new_request(f"backfill {i}", seed=i, lane="batch", **SMALL) for i in range(64)]
    publish(isolated, backfill, topic=REQUESTS_BATCH)
    processor = StreamProcessor(isolated, engine)
    with on_threads(processor.run):
        # Let the backfill start, then ask for one interactive image.
        deadline = time.monotonic() + 60
        while processor.loop.cycles < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        urgent = new_request("urgent", seed=99, **SMALL)
        # Connected beforehand, so that the clock starts when the request is sent.
        producer = make_producer(isolated, {"acks": "all"})
        producer.list_topics(isolated.topic(REQUESTS), timeout=10)
        published_at = now_millis()
        publish(isolated, [urgent], producer=producer)
        results = read_committed(isolated, RESULTS, expected=64 + 1)
    assert len(results) == 65
    urgent_result = next(r for r in results if r["request_id"] == urgent["request_id"])
    overtaken_by = [
        r
        for r in results
        if r["request"]["lane"] == "batch"
        and published_at <= r["produced_at"] <= urgent_result["produced_at"]
    ]
    # Not the backlog: at most the batch running when the request reached the broker, and
    # on a loaded machine the one gathered while the request was still on its way to the
    # worker's fetch queue (the lane is chosen from what the worker has, not asked of the
    # broker: a watermark query waits behind the fetch long-poll, ~0.5 s a partition).
    assert len(overtaken_by) <= 2 * isolated.processor.max_batch_size
    assert sum(r["produced_at"] > urgent_result["produced_at"] for r in results) > 8


def test_progress_events_report_each_request_s_steps(
    settings: Settings, engine: InferenceEngine
) -> None:
    isolated = isolate(settings, processor={"progress_interval_ms": 1})
    processor = StreamProcessor(isolated, engine)
    with on_threads(processor.run):
        requests = [new_request(f"progress {i}", seed=i, **{**SMALL, "steps": 6}) for i in (1, 2)]
        publish(isolated, requests)
        read_committed(isolated, RESULTS, expected=2)
        progress = read_committed(isolated, PROGRESS, expected=2, settle_s=1.0)
    for request in requests:
        events = [e for e in progress if e["request_id"] == request["request_id"]]
        steps = [e["step"] for e in events]
        assert len(steps) >= 2, steps
        assert steps == sorted(set(steps)), steps
        assert steps[-1] == events[-1]["steps"] >= 6
        assert {e["attempt"] for e in events} == {1}


def _processor_env(settings: Settings, home: Path) -> dict[str, str]:
    config = settings.processor
    return {
        **os.environ,
        "DIFFSTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DIFFSTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "DIFFSTREAM_HOME": str(home),
        "DIFFSTREAM_PROCESSOR__GROUP_ID": config.group_id,
        "DIFFSTREAM_PROCESSOR__INSTANCE_ID": config.instance_id or "worker",
        "DIFFSTREAM_PROCESSOR__STATIC_MEMBERSHIP": "true",
        "DIFFSTREAM_PROCESSOR__SESSION_TIMEOUT_MS": "6000",
        "DIFFSTREAM_PROCESSOR__MAX_BATCH_SIZE": "4",
        "DIFFSTREAM_ENGINE__DEVICE": "cpu",
        "DIFFSTREAM_ENGINE__WARMUP": "false",
    }


def test_sigkill_mid_batch_loses_and_duplicates_nothing(isolated: Settings, tmp_path: Path) -> None:
    # Slow enough that the kill lands inside a batch: 30 steps at 128x128.
    slow: dict[str, Any] = {**SMALL, "steps": 30, "width": 128, "height": 128}
    requests = [new_request(f"kill test {i}", seed=i, **slow) for i in range(40)]
    publish(isolated, requests)
    env = _processor_env(isolated, tmp_path)
    command = [sys.executable, "-m", "diffstream_cli", "process"]

    def started() -> None:
        # Killed in the batch after the first one: most of the work is left to the second.
        read_committed(isolated, RESULTS, expected=4, timeout_s=180, settle_s=0)
        time.sleep(0.3)

    life = kill_then_rerun(
        command,
        env,
        started=started,
        finished=lambda: read_committed(isolated, RESULTS, expected=len(requests), timeout_s=240),
    )
    assert_one_each(life, requests)


class SlowEngine(InferenceEngine):
    """The real engine, made to take longer than max.poll.interval.ms per pass (``draw`` is
    the model call; ``generate`` draws and encodes)."""

    delay_s = 9.0

    def draw(self, tasks: Any, *, progress: Any = None, locator: Any = None) -> Any:
        time.sleep(self.delay_s)
        return super().draw(tasks, progress=progress, locator=locator)


def test_batch_longer_than_max_poll_interval_causes_no_rebalance(
    isolated: Settings, tmp_path: Path
) -> None:
    assert SlowEngine.delay_s * 1000 > isolated.processor.max_poll_interval_ms
    engine = SlowEngine(EngineSettings(device="cpu", warmup=False), home=tmp_path)
    engine.load()
    requests = [new_request(f"slow {i}", seed=i, **SMALL) for i in range(3)]
    publish(isolated, requests)
    processor = StreamProcessor(isolated, engine)
    with on_threads(processor.run):
        results = read_committed(isolated, RESULTS, expected=3, timeout_s=90)
    ids = Counter(str(r["request_id"]) for r in results)
    assert set(ids) == {str(r["request_id"]) for r in requests}
    assert max(ids.values()) == 1
    assert processor.loop.revocations == 0, "the group rebalanced during a long batch"
