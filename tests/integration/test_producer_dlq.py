"""Dead letters listed, and redriven to their source topic with their bytes and headers."""

from __future__ import annotations

import pytest

from diffstream.kafka import make_producer
from diffstream.settings import Settings
from producers.operations.dead_letters import list_dead_letters, redrive
from schemas.dlq import COUNT, dead_letter_headers
from schemas.exceptions import DecodeError
from schemas.topics import DLQ, REQUESTS
from tests.integration.producing import read_all

pytestmark = pytest.mark.integration


def test_dead_letters_are_listed_and_redriven_once(isolated: Settings) -> None:
    producer = make_producer(isolated)
    for i in range(3):
        headers = dead_letter_headers(
            [("content-type", b"x")],
            topic=isolated.topic(REQUESTS),
            partition=0,
            offset=i,
            error=DecodeError("unknown framing"),
        )
        producer.produce(
            isolated.topic(DLQ), f"poison {i}".encode(), f"k{i}".encode(), headers=list(headers)
        )
    assert producer.flush(30) == 0

    letters = list_dead_letters(isolated)
    assert len(letters) == 3
    assert all(e.letter is not None and e.letter.topic == isolated.topic(REQUESTS) for e in letters)

    assert len(redrive(isolated, dry_run=True).redriven) == 3
    report = redrive(isolated, group=f"{isolated.topic_prefix}redrive")
    assert len(report.redriven) == 3
    back = read_all(isolated, REQUESTS, expected=3)
    assert sorted(m.value() or b"" for m in back) == [b"poison 0", b"poison 1", b"poison 2"]
    received = dict(back[0].headers() or [])
    assert received["content-type"] == b"x"
    assert received[COUNT] == b"1"  # the envelope travels along, so a new failure counts up

    again = redrive(isolated, group=f"{isolated.topic_prefix}redrive")
    assert again.redriven == [], "a second redrive re-publishes only new dead letters"
