"""Delivering one webhook: SSRF check, signed POST, retries with backoff, give-up horizon.

Runs on an asyncio loop. Each endpoint (scheme://host:port) has its own concurrency limit,
held only while an attempt is on the wire (not while waiting to retry), so a slow or dead
endpoint uses up its own slots and never those of the others. Redirects are not followed:
a 3xx is a failed attempt. A 410 Gone disables the callback URL: later deliveries to it
are skipped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Literal, NamedTuple

import httpx

from diffstream.settings import WebhookSettings
from sinks.exceptions import WebhookRefusedError
from sinks.metrics import NotifierMetrics
from sinks.signing import WebhookSigner
from sinks.ssrf import AddressGuard, Target

log = logging.getLogger(__name__)

USER_AGENT = "diffstream-webhooks/1"
Outcome = Literal["delivered", "gone", "disabled", "refused", "gave_up"]
# Outcomes after which the delivery goes to the webhook dead-letter topic.
DEAD_LETTER_OUTCOMES = frozenset({"refused", "gave_up"})


class Delivery(NamedTuple):
    """One event to POST to one callback URL."""

    url: str
    webhook_id: str
    body: bytes
    # Whose request it is: signed with that tenant's secret when it has one.
    tenant: str | None = None


class DeliveryResult(NamedTuple):
    """How a delivery ended."""

    outcome: Outcome
    attempts: int
    detail: str


class _Attempt(NamedTuple):
    status: int | None
    detail: str
    retry_after_s: float | None


class Deliverer:
    """Delivers webhooks; one per notifier, used from one event loop."""

    def __init__(
        self,
        config: WebhookSettings,
        metrics: NotifierMetrics,
        *,
        signer: WebhookSigner | None = None,
        guard: AddressGuard | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.signer = signer or WebhookSigner(config.signing_secret)
        self.guard = guard or AddressGuard(config.allow_hosts, allow_private=config.allow_private)
        self.client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(config.timeout_s),
            follow_redirects=False,
            # Callbacks are pinned to checked addresses: no proxy may take them elsewhere.
            trust_env=False,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
        )
        self.disabled: set[str] = set()
        self._clock = clock
        self._slots: dict[str, asyncio.Semaphore] = {}

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        """Try until delivered, gone, refused, or past the give-up horizon."""
        if delivery.url in self.disabled:
            self.metrics.attempts.labels("disabled").inc()
            return DeliveryResult("disabled", 0, "endpoint disabled after 410 Gone")
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                target = await self.guard.resolve(delivery.url)
            except WebhookRefusedError as refused:
                self.metrics.attempts.labels("refused").inc()
                log.warning("webhook %s refused: %s", delivery.webhook_id, refused)
                return DeliveryResult("refused", attempt, str(refused))
            except OSError as error:
                result = _Attempt(None, f"cannot resolve: {error}", None)
                self.metrics.attempts.labels("transport_error").inc()
            else:
                async with self._slot(target.endpoint):
                    result = await self._attempt(target, delivery)
            if result.status is not None and 200 <= result.status < 300:
                return DeliveryResult("delivered", attempt, str(result.status))
            if result.status == 410:
                self.disabled.add(delivery.url)
                log.warning("%s answered 410 Gone: disabled", delivery.url)
                return DeliveryResult("gone", attempt, "410 Gone")
            pause = self._backoff(attempt, result.retry_after_s)
            if self._clock() - started + pause > self.config.give_up_after_s:
                return DeliveryResult("gave_up", attempt, result.detail)
            self.metrics.retries.inc()
            log.info(
                "webhook %s attempt %d failed (%s), retrying in %.1fs",
                delivery.webhook_id,
                attempt,
                result.detail,
                pause,
            )
            await asyncio.sleep(pause)

    def _slot(self, endpoint: str) -> asyncio.Semaphore:
        slot = self._slots.get(endpoint)
        if slot is None:
            slot = self._slots[endpoint] = asyncio.Semaphore(
                self.config.max_concurrency_per_endpoint
            )
        return slot

    async def _attempt(self, target: Target, delivery: Delivery) -> _Attempt:
        headers = {
            **self.signer.headers(delivery.webhook_id, delivery.body, tenant=delivery.tenant),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "host": target.host_header,
        }
        extensions = {"sni_hostname": target.host} if target.url.startswith("https:") else {}
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.config.timeout_s):
                request = self.client.build_request(
                    "POST",
                    target.url,
                    content=delivery.body,
                    headers=headers,
                    extensions=extensions,
                )
                # The response body is never read: a hostile endpoint cannot make us buffer it.
                response = await self.client.send(request, stream=True)
                await response.aclose()
        except (httpx.HTTPError, TimeoutError, OSError) as error:
            self.metrics.attempts.labels("transport_error").inc()
            return _Attempt(None, f"{type(error).__name__}: {error}".rstrip(": "), None)
        finally:
            self.metrics.delivery_seconds.observe(time.perf_counter() - started)
        status = response.status_code
        if 200 <= status < 300:
            self.metrics.attempts.labels("delivered").inc()
        elif status == 410:
            self.metrics.attempts.labels("gone").inc()
        else:
            self.metrics.attempts.labels("http_error").inc()
        return _Attempt(status, f"HTTP {status}", _retry_after(response))

    def _backoff(self, attempt: int, retry_after_s: float | None) -> float:
        """Exponential with equal jitter; a Retry-After asks for at least that long."""
        growth: float = self.config.initial_backoff_s * 2.0 ** (attempt - 1)
        ceiling = min(growth, self.config.max_backoff_s)
        pause = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after_s is not None:
            pause = max(pause, min(retry_after_s, self.config.max_backoff_s))
        return pause


def _retry_after(response: httpx.Response) -> float | None:
    if response.status_code not in (429, 503):
        return None
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: rare for webhooks, and the backoff applies anyway
    return max(seconds, 0.0)
