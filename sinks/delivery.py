"""Delivering one webhook: SSRF check, signed POST, retries with backoff, give-up horizon.

Runs on an asyncio loop. Each endpoint (scheme://host:port) has a bounded queue and its own
concurrency limit (``sinks.endpoints``): it holds at most ``max_queued_per_endpoint``
deliveries (the surplus ends at once as ``backlog``), and its connection slots are held only
while an attempt (DNS lookup and request) is under way, not while waiting to retry, so a
slow or dead endpoint never uses up what the others need.

What is retried and what ends at once: transport errors, timeouts, 5xx, 408, 429 and 3xx
(redirects are not followed) are retried with backoff until ``give_up_after_s``. A host
that DNS says does not exist (``unresolvable``; believed for ``NEGATIVE_DNS_TTL_S``, so a
burst costs one lookup), any other 4xx (``rejected``) and a URL the SSRF guard refuses
(``refused``) end after one attempt: retrying cannot change the answer.
A 410 Gone disables the callback URL: later deliveries to it are skipped. URLs are logged
only through ``redact_url`` (no userinfo, no query).

Deliveries with a ``sequence_key`` (a request's status webhooks) are sent one at a time in
the order they started (``sinks.sequences``): the next waits, holding its place in the
endpoint's queue, until the one before ends however it ends.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections.abc import Callable
from typing import Literal, NamedTuple

import httpx

from diffstream.settings import WebhookSettings
from schemas.urls import redact_url
from sinks.endpoints import EndpointQueues
from sinks.exceptions import WebhookRefusedError
from sinks.metrics import NotifierMetrics
from sinks.sequences import Sequences
from sinks.signing import WebhookSigner
from sinks.ssrf import AddressGuard, Target, endpoint_of

log = logging.getLogger(__name__)

USER_AGENT = "diffstream-webhooks/1"
Outcome = Literal[
    "delivered", "gone", "disabled", "refused", "rejected", "unresolvable", "backlog", "gave_up"
]
# Outcomes after which the delivery goes to the webhook dead-letter topic.
DEAD_LETTER_OUTCOMES = frozenset({"refused", "rejected", "unresolvable", "backlog", "gave_up"})
# 4xx answers worth retrying: the request timed out, or the receiver asks us to slow down.
RETRYABLE_CLIENT_ERRORS = frozenset({408, 429})
# How long a "no such host" answer is believed before the name is looked up again.
NEGATIVE_DNS_TTL_S = 30.0
MAX_REMEMBERED_UNRESOLVABLE = 10_000
# getaddrinfo's "this name does not exist" answers (EAI_AGAIN, a DNS server not answering,
# is retried instead).
NO_SUCH_HOST = frozenset(
    code
    for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None))
    if code is not None
)


class _RedactUrls(logging.Filter):
    """httpx logs each request's URL (query included) at INFO: show it redacted instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


_REDACT_URLS = _RedactUrls()


class Delivery(NamedTuple):
    """One event to POST to one callback URL."""

    url: str
    webhook_id: str
    body: bytes
    # Whose request it is: signed with that tenant's secret when it has one.
    tenant: str | None = None
    # Deliveries with the same key are sent one after another (a request's status webhooks).
    sequence_key: str | None = None


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
        self.guard = guard or AddressGuard(
            config.allow_hosts, allow_private=config.allow_private, allow_ports=config.allow_ports
        )
        self.client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(config.timeout_s),
            follow_redirects=False,
            # Callbacks are pinned to checked addresses: no proxy may take them elsewhere.
            trust_env=False,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
        )
        # Not configuring httpx's logging (level, handlers), only keeping secrets out of it.
        logging.getLogger("httpx").addFilter(_REDACT_URLS)  # idempotent: the same filter
        self.disabled: set[str] = set()
        self._clock = clock
        self.endpoints = EndpointQueues(
            config.max_queued_per_endpoint, config.max_concurrency_per_endpoint
        )
        # endpoint -> (until when, why): hosts DNS just said do not exist.
        self._unresolvable: dict[str, tuple[float, str]] = {}
        self.sequences = Sequences()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        """Try until delivered, gone, refused, rejected, or past the give-up horizon; a
        delivery to an endpoint whose queue is full, or whose host DNS just said does not
        exist, ends at once (``backlog``, ``unresolvable``)."""
        endpoint = endpoint_of(delivery.url)
        skipped = self._skip(delivery, endpoint)
        if skipped is not None:
            return skipped
        # Nothing above awaits: turns of a sequence are taken in the order deliveries start.
        if not self.endpoints.admit(endpoint):
            self.metrics.attempts.labels("backlog").inc()
            last = self.endpoints.last_failure(endpoint)
            detail = (
                f"{self.endpoints.queued(endpoint)} deliveries already queued for {endpoint}"
                f"{f' (last attempt: {last})' if last else ''} (limit: "
                "DIFFSTREAM_WEBHOOKS__MAX_QUEUED_PER_ENDPOINT="
                f"{self.config.max_queued_per_endpoint}); the event is kept in the webhook "
                "dead-letter topic"
            )
            if self.endpoints.turned_away(endpoint) == 1:  # once per overflow, not per event
                log.warning("webhooks to %s go to the dead-letter topic: %s", endpoint, detail)
            return DeliveryResult("backlog", 0, detail)
        try:
            # A delivery waiting for its turn keeps its place in the endpoint's queue: what a
            # dead endpoint holds stays bounded, waiting ones included.
            async with self.sequences.turn(delivery.sequence_key):
                # The one before may have found the URL gone or its host missing.
                skipped = self._skip(delivery, endpoint)
                if skipped is not None:
                    return skipped
                return await self._deliver(delivery, endpoint)
        finally:
            self.endpoints.leave(endpoint)

    def _skip(self, delivery: Delivery, endpoint: str) -> DeliveryResult | None:
        """How a delivery ends without a request (a disabled URL, a host DNS just said does
        not exist); None when it is to be tried."""
        if delivery.url in self.disabled:
            self.metrics.attempts.labels("disabled").inc()
            return DeliveryResult("disabled", 0, "endpoint disabled after 410 Gone")
        known = self._unresolvable.get(endpoint)
        if known is not None and self._clock() < known[0]:
            # DNS said "no such host" moments ago: asking again for each event of a burst
            # would only load the resolver (a negative answer is cached like this too).
            self.metrics.attempts.labels("unresolvable").inc()
            return DeliveryResult("unresolvable", 0, known[1])
        return None

    async def _deliver(self, delivery: Delivery, endpoint: str) -> DeliveryResult:
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            # The lookup takes a slot too: a domain whose DNS hangs holds its own slots only.
            async with self.endpoints.slot(endpoint):
                try:
                    target = await self.guard.resolve(delivery.url)
                except WebhookRefusedError as refused:
                    self.metrics.attempts.labels("refused").inc()
                    log.warning("webhook %s refused: %s", delivery.webhook_id, refused)
                    return DeliveryResult("refused", attempt, str(refused))
                except OSError as error:
                    self.metrics.attempts.labels("transport_error").inc()
                    detail = f"cannot resolve: {error}"
                    self.endpoints.failed(endpoint, detail)
                    if isinstance(error, socket.gaierror) and error.errno in NO_SUCH_HOST:
                        self._remember_unresolvable(endpoint, detail)
                        return DeliveryResult("unresolvable", attempt, detail)
                    result = _Attempt(None, detail, None)
                else:
                    result = await self._attempt(target, delivery)
            status = result.status
            if status is not None and 200 <= status < 300:
                self.endpoints.succeeded(endpoint)
                return DeliveryResult("delivered", attempt, str(status))
            if status == 410:
                self.disabled.add(delivery.url)
                log.warning("%s answered 410 Gone: disabled", redact_url(delivery.url))
                return DeliveryResult("gone", attempt, "410 Gone")
            if status is not None and 400 <= status < 500 and status not in RETRYABLE_CLIENT_ERRORS:
                # The receiver is up and says no to this event: not the endpoint's failure.
                return DeliveryResult("rejected", attempt, f"{result.detail} (permanent)")
            self.endpoints.failed(endpoint, result.detail)
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

    def _remember_unresolvable(self, endpoint: str, detail: str) -> None:
        now = self._clock()
        if len(self._unresolvable) >= MAX_REMEMBERED_UNRESOLVABLE:
            # Random names (one per event) must not grow this without end.
            self._unresolvable = {e: v for e, v in self._unresolvable.items() if v[0] > now}
            if len(self._unresolvable) >= MAX_REMEMBERED_UNRESOLVABLE:
                self._unresolvable.clear()
        self._unresolvable[endpoint] = (now + NEGATIVE_DNS_TTL_S, detail)

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
