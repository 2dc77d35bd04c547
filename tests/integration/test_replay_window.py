"""Replays re-publish exactly the window asked for, with lineage; a dry run publishes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from diffstream.settings import Settings
from producers.cli import app
from producers.operations.positions import Position
from producers.operations.replay import replay
from schemas.builders import new_request
from schemas.codec import Codec
from schemas.events import EventName
from schemas.topics import REQUESTS
from tests.integration.producing import SMALL, produce_event, read_all

pytestmark = pytest.mark.integration

# Within the topics' retention: older timestamps are deleted by the broker's retention check
# (every few minutes), and a long test session would find its window gone.
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _at(second: int) -> datetime:
    return BASE + timedelta(seconds=second)


def test_a_time_window_is_replayed_exactly_with_lineage(
    isolated: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ten requests one second apart (message timestamps set explicitly), on 3 partitions.
    originals = [new_request(f"old {i}", seed=i, model="tiny-sd", **SMALL) for i in range(10)]
    for i, record in enumerate(originals):
        produce_event(
            isolated,
            REQUESTS,
            EventName.REQUEST,
            record,
            timestamp_ms=int(_at(i).timestamp() * 1000),
        )
    window = {str(r["request_id"]) for r in originals[3:7]}

    monkeypatch.setenv("DIFFSTREAM_KAFKA_BOOTSTRAP", isolated.kafka_bootstrap)
    monkeypatch.setenv("DIFFSTREAM_TOPIC_PREFIX", isolated.topic_prefix)
    result = CliRunner().invoke(
        app,
        [
            "replay",
            "--topic",
            REQUESTS,
            "--from",
            _at(3).isoformat(),
            "--to",
            _at(7).isoformat(),
            "--dry-run",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "4 selected, would publish 4" in result.output
    assert len(read_all(isolated, REQUESTS, expected=10)) == 10, "a dry run published"

    report = replay(
        isolated,
        REQUESTS,
        start=Position(time=_at(3)),
        end=Position(time=_at(7)),
        overrides={"scheduler": "euler_a", "steps": 3},
    )
    assert len(report.published) == 4
    codec = Codec(isolated)
    messages = read_all(isolated, REQUESTS, expected=14)
    assert len(messages) == 14
    by_coordinates = {(m.partition(), m.offset()): m for m in messages}
    replayed = [codec.decode(m.value()).value for m in messages]
    replayed = [r for r in replayed if r["lineage"] is not None]
    assert {str(r["lineage"]["original_request_id"]) for r in replayed} == window
    for record in replayed:
        lineage = record["lineage"]
        assert lineage["topic"] == isolated.topic(REQUESTS)
        source = by_coordinates[(lineage["partition"], lineage["offset"])]
        assert codec.decode(source.value()).value["request_id"] == lineage["original_request_id"]
        assert record["request_id"] != lineage["original_request_id"]
        assert (record["scheduler"], record["steps"]) == ("euler_a", 3)
        assert record["prompt"].startswith("old ")


def test_an_offset_window_with_a_filter(isolated: Settings) -> None:
    records = [
        new_request(f"p{i}", labels={"campaign": "a" if i % 2 else "b"}, **SMALL) for i in range(6)
    ]
    for record in records:
        produce_event(isolated, REQUESTS, EventName.REQUEST, record)
    partition = int(read_all(isolated, REQUESTS, expected=6)[0].partition() or 0)
    report = replay(
        isolated,
        REQUESTS,
        start=Position(offset=0),
        end=Position(offset=1000),
        partition=partition,
        filters={"labels.campaign": "a"},
        dry_run=True,
    )
    assert [r.partition for r in report.ranges] == [partition]
    in_partition = [
        m for m in read_all(isolated, REQUESTS, expected=6) if m.partition() == partition
    ]
    codec = Codec(isolated)
    expected = sum(codec.decode(m.value()).value["labels"]["campaign"] == "a" for m in in_partition)
    assert report.selected == expected
    assert report.published == []
