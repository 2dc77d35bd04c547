"""Delivering webhooks to a receiver on 127.0.0.1: retries, dedupe, 410, redirects, give-up."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

from diffstream.settings import WebhookSettings
from sinks.delivery import Deliverer, Delivery, DeliveryResult
from sinks.metrics import NotifierMetrics
from tests.webhook_receiver import Receiver, receiving

SECRET = "whsec_" + base64.b64encode(b"delivery-test-secret-0123456789").decode()


def config(**overrides: Any) -> WebhookSettings:
    values: dict[str, Any] = {
        "signing_secret": SecretStr(SECRET),
        "allow_hosts": frozenset({"127.0.0.1"}),
        "allow_ports": frozenset({"1024-65535"}),  # the receivers listen on ephemeral ports
        "initial_backoff_s": 0.05,
        "max_backoff_s": 0.2,
        "timeout_s": 2.0,
        **overrides,
    }
    return WebhookSettings(**values)


def deliver_all(settings: WebhookSettings, deliveries: list[Delivery]) -> list[DeliveryResult]:
    async def main() -> list[DeliveryResult]:
        deliverer = Deliverer(settings, NotifierMetrics.create(CollectorRegistry()))
        try:
            return list(await asyncio.gather(*(deliverer.deliver(d) for d in deliveries)))
        finally:
            await deliverer.aclose()

    return asyncio.run(main())


def test_three_failures_then_success_is_one_effect_after_dedupe() -> None:
    with receiving(Receiver(lambda n: 500 if n <= 3 else 200)) as receiver:
        body = b'{"type":"generation.completed"}'
        [result] = deliver_all(config(), [Delivery(receiver.url, "msg_abc_completed", body)])
    assert result.outcome == "delivered"
    assert result.attempts == 4
    assert len(receiver.received) == 4
    assert {r.headers["webhook-id"] for r in receiver.received} == {"msg_abc_completed"}
    for request in receiver.received:
        Webhook(SECRET).verify(request.body, request.headers)
    # The receiver's side: one effect per webhook-id.
    effects = {r.headers["webhook-id"]: r.body for r in receiver.received}
    assert len(effects) == 1


def test_410_disables_the_endpoint() -> None:
    with receiving(Receiver(lambda n: 410)) as receiver:
        url = receiver.url

        async def main() -> list[DeliveryResult]:
            deliverer = Deliverer(config(), NotifierMetrics.create(CollectorRegistry()))
            try:
                first = await deliverer.deliver(Delivery(url, "msg_1", b"{}"))
                second = await deliverer.deliver(Delivery(url, "msg_2", b"{}"))
                return [first, second]
            finally:
                await deliverer.aclose()

        first, second = asyncio.run(main())
    assert (first.outcome, second.outcome) == ("gone", "disabled")
    assert len(receiver.received) == 1


def test_redirects_are_not_followed_and_delivery_gives_up() -> None:
    with receiving(Receiver(lambda n: 302)) as receiver:
        [result] = deliver_all(
            config(give_up_after_s=0.5), [Delivery(receiver.url, "msg_r", b"{}")]
        )
    assert result.outcome == "gave_up"
    assert result.detail == "HTTP 302"
    assert all(r.path == "/hook" for r in receiver.received)
    assert len(receiver.received) >= 2


def test_private_callbacks_are_refused_without_a_request() -> None:
    with receiving(Receiver()) as receiver:
        [result] = deliver_all(
            config(allow_hosts=frozenset()), [Delivery(receiver.url, "msg_p", b"{}")]
        )
    assert result.outcome == "refused"
    assert receiver.received == []


def test_a_slow_endpoint_does_not_hold_up_another() -> None:
    with (
        receiving(Receiver(delay_s=0.8)) as slow,
        receiving(Receiver()) as fast,
    ):
        settings = config(max_concurrency_per_endpoint=1, timeout_s=5.0)
        deliveries = [Delivery(slow.url, f"msg_s{i}", b"{}") for i in range(2)]
        deliveries += [Delivery(fast.url, f"msg_f{i}", b"{}") for i in range(10)]

        async def main() -> float:
            deliverer = Deliverer(settings, NotifierMetrics.create(CollectorRegistry()))
            started = time.monotonic()
            slow_tasks = [asyncio.create_task(deliverer.deliver(d)) for d in deliveries[:2]]
            await asyncio.sleep(0.1)
            fast_results = await asyncio.gather(*(deliverer.deliver(d) for d in deliveries[2:]))
            fast_done = time.monotonic() - started
            assert all(r.outcome == "delivered" for r in fast_results)
            await asyncio.gather(*slow_tasks)
            await deliverer.aclose()
            return fast_done

        fast_done = asyncio.run(main())
    assert fast_done < 0.7, "the fast endpoint waited for the slow one"
    assert len(slow.received) == 2
