"""A dead endpoint stays its own: bounded queues per endpoint, fail-fast answers, offsets."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from diffstream.settings import WebhookSettings
from sinks.delivery import DEAD_LETTER_OUTCOMES, Deliverer, Delivery, DeliveryResult
from sinks.endpoints import EndpointQueues
from sinks.metrics import NotifierMetrics
from sinks.offsets import OffsetTracker
from sinks.ssrf import AddressGuard, endpoint_of
from tests.unit.test_webhook_delivery import config
from tests.webhook_receiver import Receiver, receiving


def deliverer(settings: WebhookSettings, guard: AddressGuard | None = None) -> Deliverer:
    return Deliverer(settings, NotifierMetrics.create(CollectorRegistry()), guard=guard)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


# ---- fail fast -------------------------------------------------------------------------


def dns_failing(errno: int):  # type: ignore[no-untyped-def]
    async def resolver(host: str, port: int) -> list[str]:
        raise socket.gaierror(errno, f"resolver said {errno}")

    return resolver


def test_an_unresolvable_host_fails_at_once() -> None:
    settings = config(give_up_after_s=3600.0)
    guard = AddressGuard(resolver=dns_failing(socket.EAI_NONAME))

    async def main() -> tuple[DeliveryResult, float]:
        d = deliverer(settings, guard)
        started = time.monotonic()
        result = await d.deliver(Delivery("https://gone.example.com/h", "msg_u", b"{}"))
        await d.aclose()
        return result, time.monotonic() - started

    result, seconds = run(main())
    assert (result.outcome, result.attempts) == ("unresolvable", 1)
    assert result.outcome in DEAD_LETTER_OUTCOMES
    assert seconds < 0.5


def test_a_temporary_dns_failure_is_retried() -> None:
    guard = AddressGuard(resolver=dns_failing(socket.EAI_AGAIN))

    async def main() -> DeliveryResult:
        d = deliverer(config(give_up_after_s=0.4), guard)
        result = await d.deliver(Delivery("https://slow-dns.example.com/h", "msg_t", b"{}"))
        await d.aclose()
        return result

    result = run(main())
    assert result.outcome == "gave_up"
    assert result.attempts > 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 413, 422])
def test_a_permanent_4xx_fails_at_once(status: int) -> None:
    with receiving(Receiver(lambda n: status)) as receiver:

        async def main() -> DeliveryResult:
            d = deliverer(config(give_up_after_s=3600.0))
            result = await d.deliver(Delivery(receiver.url, "msg_4", b"{}"))
            await d.aclose()
            return result

        result = run(main())
    assert (result.outcome, result.attempts) == ("rejected", 1)
    assert result.detail == f"HTTP {status} (permanent)"
    assert len(receiver.received) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_408_429_and_5xx_are_retried(status: int) -> None:
    with receiving(Receiver(lambda n: status if n <= 2 else 204)) as receiver:

        async def main() -> DeliveryResult:
            d = deliverer(config())
            result = await d.deliver(Delivery(receiver.url, "msg_r", b"{}"))
            await d.aclose()
            return result

        result = run(main())
    assert (result.outcome, result.attempts) == ("delivered", 3)


# ---- one bounded queue per endpoint ------------------------------------------------------


def test_an_endpoint_takes_only_its_bound_and_turns_the_rest_away_at_once() -> None:
    settings = config(max_queued_per_endpoint=5, give_up_after_s=1.5)
    with receiving(Receiver(lambda n: 500)) as dead:

        async def main() -> tuple[list[DeliveryResult], float]:
            d = deliverer(settings)
            started = time.monotonic()
            tasks = [
                asyncio.create_task(d.deliver(Delivery(dead.url, f"msg_{i}", b"{}")))
                for i in range(50)
            ]
            await asyncio.wait(tasks[5:])
            seconds = time.monotonic() - started
            results = await asyncio.gather(*tasks)
            await d.aclose()
            return list(results), seconds

        results, seconds = run(main())
    outcomes = [r.outcome for r in results]
    assert outcomes[:5] == ["gave_up"] * 5, "the first five were queued and retried"
    assert outcomes[5:] == ["backlog"] * 45
    assert seconds < 0.3, "the surplus is turned away at once, not after retries"
    assert "MAX_QUEUED_PER_ENDPOINT=5" in results[-1].detail
    assert "kept in the webhook dead-letter topic" in results[-1].detail
    assert all(r.attempts > 1 for r in results[:5])
    assert len(dead.received) == sum(r.attempts for r in results[:5]), "only the queued called"


def test_a_backlog_names_the_last_failure() -> None:
    with receiving(Receiver(lambda n: 503)) as dead:

        async def main() -> DeliveryResult:
            d = deliverer(config(max_queued_per_endpoint=1, give_up_after_s=1.0))
            first = asyncio.create_task(d.deliver(Delivery(dead.url, "msg_a", b"{}")))
            while d.endpoints.last_failure(endpoint_of(dead.url)) is None:
                await asyncio.sleep(0.01)
            second = await d.deliver(Delivery(dead.url, "msg_b", b"{}"))
            await first
            await d.aclose()
            return second

        second = run(main())
    assert second.outcome == "backlog"
    assert "(last attempt: HTTP 503)" in second.detail


def test_a_burst_within_the_bound_is_all_delivered() -> None:
    settings = config(max_queued_per_endpoint=40, max_concurrency_per_endpoint=2)
    with receiving(Receiver()) as live:

        async def main() -> list[DeliveryResult]:
            d = deliverer(settings)
            results = await asyncio.gather(
                *(d.deliver(Delivery(live.url, f"msg_{i}", b"{}")) for i in range(40))
            )
            await d.aclose()
            return list(results)

        results = run(main())
    assert [r.outcome for r in results] == ["delivered"] * 40
    assert len(live.received) == 40


def test_a_burst_to_an_unresolvable_host_costs_one_lookup() -> None:
    lookups = 0

    async def no_such_host(host: str, port: int) -> list[str]:
        nonlocal lookups
        lookups += 1
        await asyncio.sleep(0.01)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def main() -> list[DeliveryResult]:
        d = deliverer(config(), AddressGuard(resolver=no_such_host))
        url = "https://gone.example.com/h"
        first = await d.deliver(Delivery(url, "msg_0", b"{}"))
        burst = await asyncio.gather(
            *(d.deliver(Delivery(url, f"msg_{i}", b"{}")) for i in range(1, 500))
        )
        await d.aclose()
        return [first, *burst]

    results = run(main())
    assert {r.outcome for r in results} == {"unresolvable"}
    assert lookups == 1
    assert all("Name or service not known" in r.detail for r in results)


def test_dead_endpoints_do_not_delay_a_live_one() -> None:
    settings = config(max_queued_per_endpoint=20, give_up_after_s=30.0, max_backoff_s=1.0)
    with receiving(Receiver(lambda n: 500)) as dead, receiving(Receiver()) as live:

        async def main() -> float:
            d = deliverer(settings)
            backlog = [
                asyncio.create_task(d.deliver(Delivery(dead.url, f"msg_d{i}", b"{}")))
                for i in range(300)
            ]
            await asyncio.sleep(0.3)  # the dead endpoint is failing, its queue full
            started = time.monotonic()
            result = await d.deliver(Delivery(live.url, "msg_live", b"{}"))
            seconds = time.monotonic() - started
            assert result.outcome == "delivered"
            for task in backlog:
                task.cancel()
            await asyncio.gather(*backlog, return_exceptions=True)
            await d.aclose()
            return seconds

        seconds = run(main())
    assert seconds < 0.5


def test_a_domain_whose_dns_hangs_holds_only_its_own_slots() -> None:
    concurrent_lookups = 0
    most = 0

    async def resolver(host: str, port: int) -> list[str]:
        nonlocal concurrent_lookups, most
        if host != "hanging.example.com":
            return ["127.0.0.1"]
        concurrent_lookups += 1
        most = max(most, concurrent_lookups)
        try:
            await asyncio.sleep(0.5)  # the name servers do not answer
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        finally:
            concurrent_lookups -= 1

    settings = config(max_concurrency_per_endpoint=3, give_up_after_s=0.8)
    guard = AddressGuard(["127.0.0.1"], allow_ports=["1024-65535"], resolver=resolver)
    with receiving(Receiver()) as live:

        async def main() -> float:
            d = deliverer(settings, guard)
            hanging = [
                asyncio.create_task(
                    d.deliver(Delivery("https://hanging.example.com/h", f"msg_{i}", b"{}"))
                )
                for i in range(12)
            ]
            await asyncio.sleep(0.05)
            started = time.monotonic()
            result = await d.deliver(Delivery(live.url, "msg_live", b"{}"))
            seconds = time.monotonic() - started
            assert result.outcome == "delivered"
            results = await asyncio.gather(*hanging)
            assert {r.outcome for r in results} == {"gave_up"}
            await d.aclose()
            return seconds

        seconds = run(main())
    assert most == 3, "at most the endpoint's slots wait for its DNS"
    assert seconds < 0.3


def test_endpoint_queues_bookkeeping() -> None:
    async def main() -> None:
        queues = EndpointQueues(max_queued=2, max_concurrency=1)
        endpoint = "https://h:443"
        assert queues.admit(endpoint)
        assert queues.admit(endpoint)
        assert not queues.admit(endpoint)
        assert not queues.admit(endpoint)
        assert queues.turned_away(endpoint) == 2
        queues.failed(endpoint, "HTTP 500")
        assert queues.last_failure(endpoint) == "HTTP 500"
        queues.leave(endpoint)
        assert queues.queued(endpoint) == 1
        assert queues.admit(endpoint)
        assert queues.turned_away(endpoint) == 0, "counted again from the next overflow"
        queues.succeeded(endpoint)
        assert queues.last_failure(endpoint) is None
        queues.leave(endpoint)
        queues.leave(endpoint)
        assert queues.queued(endpoint) == 0
        assert queues.last_failure(endpoint) is None

    run(main())


# ---- redaction ---------------------------------------------------------------------------


def test_delivery_logs_never_show_userinfo_or_query(caplog: pytest.LogCaptureFixture) -> None:
    with receiving(Receiver(lambda n: 410)) as receiver:
        url = receiver.url.replace("http://", "http://alice:s3cret@") + "?token=t0ken"

        async def main() -> list[DeliveryResult]:
            d = deliverer(config())
            results = [
                await d.deliver(Delivery(url, "msg_g", b"{}")),
                await d.deliver(Delivery("ftp://bob:hunter2@example.com/?k=t0ken", "m", b"")),
            ]
            await d.aclose()
            return results

        with caplog.at_level(logging.DEBUG):
            results = run(main())
    assert [r.outcome for r in results] == ["gone", "refused"]
    assert "answered 410" in caplog.text
    for secret in ("alice", "s3cret", "t0ken", "bob", "hunter2"):
        assert secret not in caplog.text
        assert all(secret not in r.detail for r in results)
    assert "authorization" not in receiver.received[0].headers


# ---- offsets ------------------------------------------------------------------------------


def test_a_stuck_delivery_holds_the_commit_point_but_costs_one_entry() -> None:
    tracker = OffsetTracker()
    tp = ("t", 0)
    stuck_epoch = tracker.add(tp, 10)
    for offset in range(11, 10_011):
        tracker.done(tp, offset, tracker.add(tp, offset))
    assert tracker.committable() == {}, "nothing after the stuck one may be committed"
    assert tracker.in_flight() == 1
    assert len(tracker._partitions[tp].unfinished) == 1, "finished offsets are not remembered"
    tracker.done(tp, 10, stuck_epoch)
    assert tracker.committable() == {tp: 10_011}


def test_offsets_match_a_reference_model_in_any_order() -> None:
    rng = random.Random(7)
    for _ in range(200):
        tracker = OffsetTracker()
        tp = ("t", 3)
        offsets = sorted(rng.sample(range(100), rng.randint(1, 30)))  # gaps: markers
        epochs = {o: tracker.add(tp, o) for o in offsets}
        finished: set[int] = set()
        for offset in rng.sample(offsets, len(offsets)):
            tracker.done(tp, offset, epochs[offset])
            finished.add(offset)
            unfinished = [o for o in offsets if o not in finished]
            expected = unfinished[0] if unfinished else offsets[-1] + 1
            got = tracker.committable().get(tp)
            if unfinished and unfinished[0] == offsets[0]:
                assert got is None
            else:
                assert got == expected


def test_one_endpoints_bound_must_stay_below_the_global_guard() -> None:
    with pytest.raises(ValueError, match="one dead endpoint pauses every partition"):
        WebhookSettings(max_queued_per_endpoint=500, max_in_flight=500)
