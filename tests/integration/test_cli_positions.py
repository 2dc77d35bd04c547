"""``earliest`` and ``latest`` wherever a position is: replay, offsets reset."""

from __future__ import annotations

import uuid

import pytest
from typer.testing import CliRunner

from diffstream.settings import Settings
from producers.cli import app
from producers.operations.offset_reset import reset_offsets
from producers.operations.positions import Position, parse_position
from producers.operations.replay import replay
from schemas.builders import new_request
from schemas.events import EventName
from schemas.topics import REQUESTS
from tests.integration.producing import SMALL, isolate, produce_event

pytestmark = pytest.mark.integration


@pytest.fixture
def isolated(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    own = isolate(settings)
    monkeypatch.setenv("DIFFSTREAM_KAFKA_BOOTSTRAP", own.kafka_bootstrap)
    monkeypatch.setenv("DIFFSTREAM_TOPIC_PREFIX", own.topic_prefix)
    return own


def test_replay_from_earliest_to_latest_counts_the_topic(isolated: Settings) -> None:
    for i in range(7):
        produce_event(isolated, REQUESTS, EventName.REQUEST, new_request(f"p{i}", **SMALL))
    command = ["replay", "--topic", REQUESTS, "--from", "earliest", "--to", "latest", "--dry-run"]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "7 selected, would publish 7" in result.output

    # latest..latest is empty; earliest..offset 1 is the first record of each partition.
    empty = replay(
        isolated,
        REQUESTS,
        start=parse_position("latest"),
        end=Position(edge="latest"),
        dry_run=True,
    )
    assert empty.selected == 0
    firsts = replay(
        isolated, REQUESTS, start=parse_position("EARLIEST"), end=Position(offset=1), dry_run=True
    )
    assert firsts.selected == sum(1 for r in firsts.ranges if r.size)


def test_offsets_reset_accepts_earliest_and_latest_as_the_time(isolated: Settings) -> None:
    for i in range(5):
        produce_event(isolated, REQUESTS, EventName.REQUEST, new_request(f"p{i}", **SMALL))
    group = f"{isolated.topic_prefix}g-{uuid.uuid4().hex[:6]}"
    command = ["offsets", "reset", "--group", group, "--topic", REQUESTS, "--dry-run"]
    result = CliRunner().invoke(app, [*command, "--to-time", "latest"])
    assert result.exit_code == 0, result.output
    latest = reset_offsets(isolated, group, to="latest", topics=[REQUESTS], dry_run=True)
    assert sum(change.after for change in latest) == 5
    result = CliRunner().invoke(app, [*command, "--to-time", "earliest"])
    assert result.exit_code == 0, result.output
    refused = CliRunner().invoke(app, [*command, "--to-time", "12"])
    assert refused.exit_code == 2
    assert "not an offset" in refused.output
