"""Per-tenant limits: token buckets for requests/s and images/min, and requests in flight.

The buckets live in each gateway instance (N instances behind a balancer let a tenant
through up to N times its rate); the in-flight count comes from the view, which every
instance reads from the same topics, so it holds across instances (within the view's lag).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from producers.gateway.exceptions import LimitExceededError
from schemas.tenants import TenantKey


@dataclass
class TokenBucket:
    """``rate`` tokens a second, holding at most ``capacity``."""

    rate: float
    capacity: float
    tokens: float
    stamp: float

    def take(self, amount: float, now: float) -> float:
        """Take ``amount`` tokens: 0.0 when taken, else the seconds until they would be there."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if amount <= self.tokens:
            self.tokens -= amount
            return 0.0
        return (min(amount, self.capacity) - self.tokens) / self.rate


class TenantLimiter:
    """Checks a submit against its tenant's limits before anything is published."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._requests: dict[str, TokenBucket] = {}
        self._images: dict[str, TokenBucket] = {}

    def admit(self, key: TenantKey, *, requests: int, images: int, in_flight: int) -> None:
        """Take ``requests`` and ``images`` from the tenant's buckets, or raise
        ``LimitExceededError`` naming the limit (nothing is taken then)."""
        if in_flight + requests > key["max_in_flight"]:
            raise LimitExceededError(
                "max_in_flight",
                f"tenant {key['tenant']!r} has {in_flight} requests in flight, the limit is "
                f"max_in_flight={key['max_in_flight']}: wait for some to finish "
                "(or raise it with `diffstream keys create --max-in-flight`)",
                1.0,
            )
        now = self._clock()
        rate = self._bucket(self._requests, key, key["rate_per_s"])
        per_s = key["images_per_min"] / 60.0
        pictures = self._bucket(self._images, key, per_s, capacity=float(key["images_per_min"]))
        if images > pictures.capacity:
            raise LimitExceededError(
                "images_per_min",
                f"{images} images in one call exceed images_per_min={key['images_per_min']} "
                f"of tenant {key['tenant']!r}: send fewer per call",
                60.0,
            )
        wait = rate.take(requests, now)
        if wait:
            raise LimitExceededError(
                "rate_per_s",
                f"tenant {key['tenant']!r} is over rate_per_s={key['rate_per_s']:g} requests/s: "
                f"retry in {wait:.2f}s",
                wait,
            )
        wait = pictures.take(images, now)
        if wait:
            rate.tokens += requests  # give back what this refused call took
            raise LimitExceededError(
                "images_per_min",
                f"tenant {key['tenant']!r} is over images_per_min={key['images_per_min']}: "
                f"retry in {wait:.1f}s",
                wait,
            )

    def _bucket(
        self,
        buckets: dict[str, TokenBucket],
        key: TenantKey,
        rate: float,
        *,
        capacity: float | None = None,
    ) -> TokenBucket:
        # A burst of one second's worth (at least one request) for requests/s.
        size = capacity if capacity is not None else max(rate, 1.0)
        bucket = buckets.get(key["tenant"])
        if bucket is None or bucket.rate != rate or bucket.capacity != size:
            bucket = buckets[key["tenant"]] = TokenBucket(rate, size, size, self._clock())
        return bucket
