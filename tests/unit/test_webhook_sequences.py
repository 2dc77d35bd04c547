"""Status webhooks: one request's are sent in order, each after the one before ended, while
other requests and other endpoints go on; what they carry and whom they call."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from schemas.builders import invalid_request_failed, new_request, new_status
from schemas.codec import Codec
from schemas.events import EventName, RequestState
from schemas.examples import example
from schemas.validation import validate_request
from sinks.delivery import Deliverer, Delivery, DeliveryResult
from sinks.metrics import NotifierMetrics
from sinks.notify import plan_delivery
from sinks.sequences import Sequences
from sinks.ssrf import endpoint_of
from tests.unit.test_webhook_delivery import config
from tests.webhook_receiver import Receiver, receiving

NOW = datetime.now(UTC)
GOOD = "https://hooks.example.com/h"


def status_delivery(url: str, request_id: str, sequence: int) -> Delivery:
    return Delivery(url, f"msg_{request_id}_status_{sequence}", b"{}", sequence_key=request_id)


def deliver_together(*deliveries: Delivery) -> list[DeliveryResult]:
    """``deliveries`` started at once by one deliverer of the default config; their results."""

    async def main() -> list[DeliveryResult]:
        deliverer = Deliverer(config(), NotifierMetrics.create(CollectorRegistry()))
        try:
            return list(await asyncio.gather(*(deliverer.deliver(d) for d in deliveries)))
        finally:
            await deliverer.aclose()

    return asyncio.run(main())


def ids(receiver: Receiver) -> list[str]:
    with receiver.lock:
        return [r.headers["webhook-id"] for r in receiver.received]


# ---- the turns --------------------------------------------------------------------------


def test_turns_of_a_key_run_one_at_a_time_in_order_and_keys_do_not_wait() -> None:
    async def main() -> tuple[list[str], int]:
        sequences = Sequences()
        log: list[str] = []

        async def work(key: str, name: str, pause: float) -> None:
            async with sequences.turn(key):
                log.append(f"start {name}")
                await asyncio.sleep(pause)
                log.append(f"end {name}")

        await asyncio.gather(
            work("a", "a1", 0.05), work("a", "a2", 0.0), work("a", "a3", 0.0), work("b", "b1", 0)
        )
        return log, sequences.waiting()

    log, waiting = asyncio.run(main())
    # b1 starts while a1 is under way; a2 and a3 only after the one before ended.
    assert log.index("start b1") < log.index("end a1")
    assert [e for e in log if e.endswith(("a1", "a2", "a3"))] == [
        "start a1",
        "end a1",
        "start a2",
        "end a2",
        "start a3",
        "end a3",
    ]
    assert waiting == 0, "a key whose turns all ended is forgotten"


def test_a_cancelled_turn_lets_the_next_one_go() -> None:
    async def main() -> list[str]:
        sequences = Sequences()
        log: list[str] = []
        release = asyncio.Event()

        async def first() -> None:
            async with sequences.turn("a"):
                await release.wait()

        async def later(name: str) -> None:
            async with sequences.turn("a"):
                log.append(name)

        one = asyncio.create_task(first())
        await asyncio.sleep(0)
        two = asyncio.create_task(later("second"))
        three = asyncio.create_task(later("third"))
        await asyncio.sleep(0.01)
        two.cancel()  # cancelled while waiting: third must not wait for it forever
        one.cancel()  # cancelled while holding its turn
        await asyncio.wait_for(three, 1.0)
        assert sequences.waiting() == 0
        return log

    assert asyncio.run(main()) == ["third"]


# ---- delivering -------------------------------------------------------------------------


def test_a_retried_status_webhook_is_not_overtaken_by_the_next_state() -> None:
    request, other = str(uuid.uuid4()), str(uuid.uuid4())
    first = f"msg_{request}_status_10"
    receiver = Receiver()

    def respond(n: int) -> int:
        with receiver.lock:
            this = receiver.received[n - 1].headers["webhook-id"]
            tries = sum(r.headers["webhook-id"] == first for r in receiver.received[:n])
        return 503 if this == first and tries <= 3 else 200

    receiver.respond = respond
    with receiving(receiver):
        results = deliver_together(
            status_delivery(receiver.url, request, 10),
            status_delivery(receiver.url, request, 12),
            status_delivery(receiver.url, other, 11),
            status_delivery(receiver.url, request, 15),
        )
    assert [r.outcome for r in results] == ["delivered"] * 4
    seen = ids(receiver)
    mine = [i for i in seen if request in i]
    assert mine == [first] * 4 + [f"msg_{request}_status_12", f"msg_{request}_status_15"]
    # The other request, on the same endpoint, did not wait for the retries.
    assert seen.index(f"msg_{other}_status_11") < seen.index(f"msg_{request}_status_12")


def test_a_state_given_up_on_lets_the_next_go_and_a_gone_url_stops_the_rest() -> None:
    request = str(uuid.uuid4())
    receiver = Receiver()

    def respond(n: int) -> int:
        with receiver.lock:
            this = receiver.received[n - 1].headers["webhook-id"]
        return {"_1": 400, "_2": 200, "_3": 410}[this[-2:]]

    receiver.respond = respond
    with receiving(receiver):
        results = deliver_together(
            *(status_delivery(receiver.url, request, s) for s in (1, 2, 3, 4))
        )
    assert [r.outcome for r in results] == ["rejected", "delivered", "gone", "disabled"]
    assert [i[-1] for i in ids(receiver)] == ["1", "2", "3"]


def test_a_dead_endpoints_waiting_states_stay_in_its_bound_and_a_live_one_goes_on() -> None:
    bound = 6  # r0's five states and r1's first
    settings = config(give_up_after_s=0.4, max_queued_per_endpoint=bound)
    with receiving(Receiver(lambda n: 500)) as dead, receiving(Receiver()) as live:

        async def main() -> tuple[list[DeliveryResult], float, int]:
            deliverer = Deliverer(settings, NotifierMetrics.create(CollectorRegistry()))
            try:
                # Two requests with five state changes each, all to the dead endpoint.
                dead_ones = [
                    asyncio.create_task(deliverer.deliver(status_delivery(dead.url, f"r{r}", s)))
                    for r in range(2)
                    for s in range(5)
                ]
                await asyncio.sleep(0.2)
                queued = deliverer.endpoints.queued(endpoint_of(dead.url))
                started = time.monotonic()
                await deliverer.deliver(status_delivery(live.url, "live", 1))
                live_s = time.monotonic() - started
                return list(await asyncio.gather(*dead_ones)), live_s, queued
            finally:
                await deliverer.aclose()

        results, live_s, queued = asyncio.run(main())
    assert live_s < 0.5, f"the live endpoint waited {live_s:.2f}s"
    assert queued <= bound
    outcomes = [r.outcome for r in results]
    # Waiting states hold places too: the surplus was turned away at once.
    assert outcomes.count("backlog") == 10 - bound
    assert outcomes.count("gave_up") == bound
    assert [r.outcome for r in results[:6]] == ["gave_up"] * 6
    # Within a request, no state was sent before the one before it had ended.
    attempts = [(i.split("_")[1], int(i.split("_")[-1])) for i in ids(dead)]
    for request in ("r0", "r1"):
        states = [s for r, s in attempts if r == request]
        assert states == sorted(states)


# ---- planning ---------------------------------------------------------------------------


def _status(request: dict[str, Any], state: RequestState, **fields: Any) -> dict[str, Any]:
    """A status record through the real codec (v3)."""
    codec = Codec.without_registry()
    record = new_status(request, state, **fields)
    return codec.decode(codec.encode(EventName.STATUS, record)).value


def test_a_status_event_of_a_request_that_asked_plans_an_ordered_webhook() -> None:
    request = new_request(
        "a cat", tenant="acme", callback={"url": GOOD, "events": ["status", "completed"]}
    )
    record = _status(request, RequestState.PROCESSING, updated_at=NOW)
    assert record["callback"] == {"url": GOOD, "events": ["status", "completed"]}
    planned = plan_delivery(EventName.STATUS, record, offset=42)
    assert isinstance(planned, Delivery)
    rid = str(request["request_id"])
    assert (planned.url, planned.tenant, planned.sequence_key) == (GOOD, "acme", rid)
    assert planned.webhook_id == f"msg_{rid}_status_42"
    body = json.loads(planned.body)
    assert body["type"] == "generation.status"
    assert body["sequence"] == 42
    assert body["timestamp"] == NOW.isoformat(timespec="milliseconds")
    assert body["data"]["state"] == "processing"
    assert body["data"]["request_id"] == rid
    assert "callback" not in body["data"], "the receiver's own URL is not echoed"


def test_status_events_of_requests_that_did_not_ask_carry_no_callback() -> None:
    asked_completed = new_request("a cat", callback={"url": GOOD, "events": ["completed"]})
    record = _status(asked_completed, RequestState.PROCESSING)
    assert record["callback"] is None
    assert plan_delivery(EventName.STATUS, record, offset=1) is None
    assert _status(new_request("a dog"), RequestState.QUEUED)["callback"] is None


def test_a_callback_that_broke_the_rules_is_not_in_the_failed_status() -> None:
    bad = "https://alice:s3cret@hooks.example.com/h"
    request = new_request("a cat", submitted_at=NOW - timedelta(seconds=1))
    request["callback"] = {"url": bad, "events": ["status"]}
    failed = invalid_request_failed(request, validate_request(request))
    record = _status(request, RequestState.FAILED, failed=failed)
    assert record["callback"] is None
    assert "s3cret" not in str(record)
    # A valid callback of a request invalid for another reason hears about the failure.
    request.update(prompt="bad\x00prompt", callback={"url": GOOD, "events": ["status"]})
    failed = invalid_request_failed(request, validate_request(request))
    record = _status(request, RequestState.FAILED, failed=failed)
    planned = plan_delivery(EventName.STATUS, record, offset=7)
    assert isinstance(planned, Delivery)
    assert json.loads(planned.body)["data"]["error_code"] == "invalid_request"


def test_outcome_webhooks_keep_their_ids_and_are_not_sequenced() -> None:
    record = example(EventName.COMPLETED)
    record["context"]["callback"] = {"url": GOOD, "events": ["completed", "status"]}
    planned = plan_delivery(EventName.COMPLETED, record, offset=99)
    assert isinstance(planned, Delivery)
    assert planned.webhook_id == f"msg_{record['request_id']}_completed"
    assert planned.sequence_key is None
    assert "sequence" not in json.loads(planned.body)
