"""``dlq list|redrive --topic``: a webhook that was given up is redriven and delivered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from diffstream.settings import Settings
from producers.cli import app
from producers.operations.dead_letters import list_dead_letters
from schemas.events import EventName
from schemas.examples import example
from schemas.topics import FAILED, WEBHOOKS_DLQ
from sinks.notify import Notifier
from tests.integration.sinks_support import isolate, publish, running_notifier, wait_for
from tests.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.integration


@pytest.fixture
def isolated(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    own = isolate(settings, webhooks={"give_up_after_s": 1.0})
    for name, value in {
        "KAFKA_BOOTSTRAP": own.kafka_bootstrap,
        "TOPIC_PREFIX": own.topic_prefix,
    }.items():
        monkeypatch.setenv(f"DIFFSTREAM_{name}", value)
    return own


@pytest.fixture
def notifier(isolated: Settings) -> Iterator[Notifier]:
    with running_notifier(isolated) as running:
        yield running


def test_a_dead_webhook_is_redriven_and_delivered(isolated: Settings, notifier: Notifier) -> None:
    receiver_up = False
    with receiving(Receiver(lambda n: 204 if receiver_up else 500)) as receiver:
        failed = example(EventName.FAILED)
        failed["context"]["callback"] = {"url": receiver.url, "events": ["failed"]}
        publish(isolated, FAILED, EventName.FAILED, [failed])
        wait_for(lambda: notifier.outcomes.get("gave_up") == 1, what="the dead letter")

        listed = CliRunner().invoke(app, ["dlq", "list", "--topic", WEBHOOKS_DLQ])
        assert listed.exit_code == 0, listed.output
        assert "1 dead letters" in listed.output
        [entry] = list_dead_letters(isolated, topic=WEBHOOKS_DLQ)
        assert entry.letter is not None
        assert entry.letter.topic == isolated.topic(FAILED)  # where it came from
        # diffusion.dlq is another topic: nothing of this test is there.
        assert "0 dead letters" in CliRunner().invoke(app, ["dlq", "list"]).output

        attempts = len(receiver.received)
        receiver_up = True
        redriven = CliRunner().invoke(app, ["dlq", "redrive", "--topic", WEBHOOKS_DLQ])
        assert redriven.exit_code == 0, redriven.output
        assert "redrove 1, passed over 0" in redriven.output
        wait_for(lambda: notifier.outcomes.get("delivered") == 1, what="the redriven delivery")
        assert len(receiver.received) == attempts + 1
        assert str(failed["request_id"]) in receiver.received[-1].body.decode()

        again = CliRunner().invoke(app, ["dlq", "redrive", "--topic", WEBHOOKS_DLQ])
        assert "redrove 0" in again.output, "a second redrive must not send it again"
