"""`offsets reset` is refused while the group has members, and works once it has none."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import TopicPartition
from typer.testing import CliRunner

from diffstream.kafka import make_consumer
from diffstream.settings import Settings
from producers.cli import app
from producers.exceptions import GroupHasMembersError
from producers.operations.offset_reset import reset_offsets
from schemas.builders import new_request
from schemas.events import EventName
from schemas.topics import REQUESTS
from tests.integration.producing import SMALL, produce_event

pytestmark = pytest.mark.integration


def test_reset_is_refused_with_members_and_works_without(
    isolated: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(6):
        produce_event(isolated, REQUESTS, EventName.REQUEST, new_request(f"p{i}", **SMALL))
    topic = isolated.topic(REQUESTS)
    group = f"{isolated.topic_prefix}readers-{uuid.uuid4().hex[:6]}"
    consumer = make_consumer(
        isolated,
        {"group.id": group, "auto.offset.reset": "earliest", "client.id": "test-member"},
    )
    consumer.subscribe([topic])
    read = 0
    deadline = time.monotonic() + 30
    while read < 6 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            read += 1
    consumer.commit(asynchronous=False)

    monkeypatch.setenv("DIFFSTREAM_KAFKA_BOOTSTRAP", isolated.kafka_bootstrap)
    monkeypatch.setenv("DIFFSTREAM_TOPIC_PREFIX", isolated.topic_prefix)
    runner = CliRunner()
    try:
        with pytest.raises(GroupHasMembersError) as caught:
            reset_offsets(isolated, group, to="earliest")
        assert "test-member@" in caught.value.members[0]
        result = runner.invoke(app, ["offsets", "reset", "--group", group, "--to-earliest"])
        assert result.exit_code == 2
        assert "active member" in result.output
        assert "test-member@" in result.output
    finally:
        consumer.close()

    result = runner.invoke(app, ["offsets", "reset", "--group", group, "--to-earliest"])
    assert result.exit_code == 0, result.output
    checker = make_consumer(isolated, {"group.id": group})
    try:
        parts = checker.list_topics(topic, timeout=10).topics[topic].partitions
        committed = checker.committed([TopicPartition(topic, p) for p in parts], timeout=10)
    finally:
        checker.close()
    assert all(tp.offset == 0 for tp in committed)

    changes = reset_offsets(isolated, group, to="latest")
    assert sum(c.after for c in changes) == 6
    assert all(c.before == 0 for c in changes)
