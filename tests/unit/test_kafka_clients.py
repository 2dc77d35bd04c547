"""librdkafka's log reaches Python logging once per repeat window, not once per retry."""

from __future__ import annotations

import logging

import pytest

from diffstream.kafka import RepeatThrottle, librdkafka_log, librdkafka_throttle, make_producer
from diffstream.settings import Settings
from infra.stack.ports import free_port


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("x", logging.ERROR, __file__, 1, "%s", (message,), None)


def test_repeats_are_held_back_and_counted() -> None:
    throttle = RepeatThrottle(window_s=60)
    assert throttle.filter(_record("connect to 127.0.0.1:9092 failed after 0ms"))
    assert not throttle.filter(_record("connect to 127.0.0.1:9092 failed after 3ms"))
    assert throttle.filter(_record("another message"))


def test_repeat_is_let_through_after_the_window_with_a_count() -> None:
    throttle = RepeatThrottle(window_s=0)
    throttle.filter(_record("boom"))
    throttle._window_s = 60  # the second one is held, the third after a new window passes
    assert not throttle.filter(_record("boom"))
    throttle._window_s = 0
    record = _record("boom")
    assert throttle.filter(record)
    assert "repeated 1 more times" in record.getMessage()


def test_an_unreachable_broker_logs_once_not_per_retry(caplog: pytest.LogCaptureFixture) -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    settings = Settings(kafka_bootstrap=bootstrap)
    producer = make_producer(settings, {"message.timeout.ms": 1500})
    # Another test's refused connection, a moment ago, would hold this one back.
    librdkafka_throttle.forget()
    with caplog.at_level(logging.DEBUG, logger=librdkafka_log.name):
        producer.produce("anything", b"x")
        producer.flush(2)
    # Only this producer's: a client another test left running may be refused meanwhile.
    refused = [
        r
        for r in caplog.records
        if "Connection refused" in (m := r.getMessage()) and bootstrap in m
    ]
    assert len(refused) == 1
