"""Status callbacks through the broker: processor, image sink and notifier on the real stack.

Requests whose callback asks for ``status`` (and ``completed``) run with the digits model;
one expires, one is cancelled before it runs, one asks for ``completed`` only. Each request's
``generation.status`` webhooks must be exactly its records in ``diffusion.status``, in
offset order, each once, signed, ending in its terminal state; the request that did not ask
gets none. The receiver answers 503 to each ``processing`` webhook until the request's completed
webhook came, so its later states are ready before it is delivered: they must wait for it.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from diffstream.settings import Settings
from infra.chaos.load import digits_request
from schemas.codec import Codec
from schemas.events import EventName
from schemas.signals import new_cancel
from schemas.topics import CANCELLATIONS, STATUS
from tests.integration.producing import read_all
from tests.integration.sinks_support import SECRET, isolate, publish, wait_for
from tests.integration.test_processor import publish as publish_requests
from tests.roles_support import RolesThread
from tests.webhook_receiver import Received, Receiver, receiving

pytestmark = pytest.mark.integration

COMPLETING = 4
TERMINAL = {"completed", "failed", "cancelled"}
# A bound on holding a processing webhook back (the completed webhook comes well before).
HOLD_AT_MOST_S = 20.0


def test_status_webhooks_arrive_in_order_once_each_and_only_where_asked(
    settings: Settings,
) -> None:
    started = time.monotonic()
    roles = RolesThread(isolate(settings))
    own = roles.settings
    receiver = Receiver()
    answers = HoldFirstStates(receiver)
    receiver.respond = answers
    with receiving(receiver):
        both = {"url": receiver.url, "events": ["status", "completed"]}
        completing = [digits_request(i, callback=both) for i in range(COMPLETING)]
        expired = digits_request(
            7,
            callback={"url": receiver.url, "events": ["status"]},
            deadline=datetime.now(UTC) - timedelta(seconds=1),
        )
        cancelled = digits_request(8, callback=both)
        quiet = digits_request(9, callback={"url": receiver.url, "events": ["completed"]})
        asked = [*completing, expired, cancelled]
        # Cancelled before any processor runs: refused without GPU time.
        publish(own, CANCELLATIONS, EventName.CANCEL, [new_cancel(cancelled["request_id"])])
        roles.start()
        try:
            publish_requests(own, [*completing, expired, cancelled, quiet])
            ids = {str(r["request_id"]) for r in asked}
            wait_for(
                lambda: _finished(answers) == (ids, COMPLETING + 1),
                timeout_s=60,
                what="every terminal status and completed webhook",
            )
            time.sleep(1.0)  # a duplicate or a stray late webhook would show up by now
        finally:
            assert not roles.finish(), f"a role ended the run: {roles.failures}"
        received = list(receiver.received)
        delivered = answers.delivered()

    truth = _status_records(own)
    sent = _status_webhooks(delivered)
    quiet_id = str(quiet["request_id"])
    assert quiet_id not in sent, "a request that did not ask for status got status webhooks"
    assert truth[quiet_id], "its status changes happened all the same"
    for request in asked:
        rid = str(request["request_id"])
        assert sent[rid] == truth[rid], f"{rid}: sent {sent[rid]}, status topic {truth[rid]}"
        states = [state for _, state in sent[rid]]
        assert states[-1] in TERMINAL, states
        assert not TERMINAL.intersection(states[:-1]), states
    for request in completing:
        states = [state for _, state in sent[str(request["request_id"])]]
        assert states[0] == "processing", states
        assert states[-2:] == ["generated", "completed"], states
    assert [s for _, s in sent[str(expired["request_id"])]] == ["failed"]
    assert [s for _, s in sent[str(cancelled["request_id"])]] == ["cancelled"]
    retried = len(received) - len(delivered)
    print(
        f"\nstatus webhooks: {sum(map(len, sent.values()))} for {len(asked)} requests "
        f"({retried} retried attempts); test took {time.monotonic() - started:.1f}s"
    )


class HoldFirstStates:
    """Answers 503 to a request's ``processing`` webhook until its completed webhook came
    (``HOLD_AT_MOST_S`` at most), 200 to the rest; remembers each answer (by arrival number,
    from 1)."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.answers: dict[int, int] = {}
        self._first_try: dict[str, float] = {}

    def __call__(self, n: int) -> int:
        self.answers[n] = status = self._answer(n)
        return status

    def _answer(self, n: int) -> int:
        with self.receiver.lock:
            payload = json.loads(self.receiver.received[n - 1].body)
        if payload["type"] != "generation.status":
            return 200
        if payload["data"]["state"] != "processing":
            return 200
        rid = payload["data"]["request_id"]
        held = self._first_try.setdefault(rid, time.monotonic())
        if time.monotonic() - held > HOLD_AT_MOST_S:
            return 200
        # Its completed webhook is not sequenced with the status ones: once it came, the
        # request's generated and completed status events are in the topic too.
        with self.receiver.lock:
            outcome_came = any(
                f"msg_{rid}_completed" == r.headers["webhook-id"] for r in self.receiver.received
            )
        return 200 if outcome_came else 503

    def delivered(self) -> list[tuple[Received, dict[str, Any]]]:
        """The webhooks answered 200, with their payloads, in arrival order."""
        with self.receiver.lock:
            received = list(self.receiver.received)
        return [
            (r, json.loads(r.body)) for n, r in enumerate(received, 1) if self.answers.get(n) == 200
        ]


def _finished(answers: HoldFirstStates) -> tuple[set[str], int]:
    """Requests whose terminal status webhook was delivered, and how many completed ones."""
    payloads = [payload for _, payload in answers.delivered()]
    ended = {
        p["data"]["request_id"]
        for p in payloads
        if p["type"] == "generation.status" and p["data"]["state"] in TERMINAL
    }
    return ended, sum(p["type"] == "generation.completed" for p in payloads)


def _status_records(settings: Settings) -> dict[str, list[tuple[int, str]]]:
    """Every record of the status topic as (offset, state), in offset order per request."""
    truth: dict[str, list[tuple[int, str]]] = defaultdict(list)
    codec = Codec(settings)
    for message in read_all(settings, STATUS, expected=1, settle_s=1.0):
        record = codec.decode(message.value()).value
        truth[str(record["request_id"])].append((message.offset() or 0, record["state"]))
    return truth


def _status_webhooks(
    delivered: list[tuple[Received, dict[str, Any]]],
) -> dict[str, list[tuple[int, str]]]:
    """The status webhooks delivered, as (sequence, state) in arrival order per request;
    every signature is checked and no webhook may be delivered twice."""
    sent: dict[str, list[tuple[int, str]]] = defaultdict(list)
    ids = [request.headers["webhook-id"] for request, _ in delivered]
    assert len(ids) == len(set(ids)), "a webhook was delivered twice"
    for request, payload in delivered:
        Webhook(SECRET).verify(request.body, request.headers)  # signed, or it raises
        if payload["type"] != "generation.status":
            continue
        data = payload["data"]
        sent[data["request_id"]].append((payload["sequence"], data["state"]))
        expected_id = f"msg_{data['request_id']}_status_{payload['sequence']}"
        assert request.headers["webhook-id"] == expected_id
        assert payload["timestamp"] == data["updated_at"]
        assert "callback" not in data, "the receiver's own URL is not echoed"
    return sent


def _payloads(receiver: Receiver) -> list[dict[str, Any]]:
    with receiver.lock:
        bodies = [r.body for r in receiver.received]
    return [json.loads(body) for body in bodies]
