"""Prometheus counters of metered usage per tenant, with the tenant label's cardinality bounded.

The exact numbers are the ``diffusion.usage`` topic (``diffstream usage``); these counters are
for dashboards and alerts, so a tenant label must not grow without bound: the tenants listed
in ``DIFFSTREAM_USAGE__METRIC_TENANTS`` always get a label of their own, then the first
``DIFFSTREAM_USAGE__METRIC_TENANT_LIMIT`` other tenants a process meters; every later one is
counted as ``other``, and requests without a tenant as ``none``. Series per counter are at
most (listed + limit + 2) x 4 outcomes x 2 lanes.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, NamedTuple

from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import NoDecode

OTHER = "other"
NO_TENANT = "none"


class UsageSettings(BaseModel):
    """The usage counters' tenant label (``DIFFSTREAM_USAGE__*``)."""

    model_config = ConfigDict(frozen=True)

    # Tenants that always get a label of their own (e.g. the ones you bill).
    metric_tenants: Annotated[tuple[str, ...], NoDecode] = ()
    # How many further tenants get one, first metered first; the rest are "other".
    metric_tenant_limit: int = Field(20, ge=0, le=1000)

    @field_validator("metric_tenants", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        # "acme,globex", as an environment variable gives it.
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


class TenantLabels:
    """Maps a tenant to its label value: itself while within the bound, else ``other``."""

    def __init__(self, settings: UsageSettings) -> None:
        self._listed = frozenset(settings.metric_tenants)
        self._limit = settings.metric_tenant_limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def label(self, tenant: str | None) -> str:
        """The label value of ``tenant``."""
        if not tenant:
            return NO_TENANT
        if tenant in self._listed or tenant in self._seen:
            return tenant
        with self._lock:
            if len(self._seen) < self._limit:
                self._seen.add(tenant)
                return tenant
        return OTHER


class UsageMetrics(NamedTuple):
    """The usage counters; one set per registry, shared by the roles of one process."""

    requests: Counter
    images: Counter
    pixel_steps: Counter
    accelerator_seconds: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> UsageMetrics:
        """Register the collectors in ``registry``."""
        labels = ["tenant", "outcome", "lane"]
        return cls(
            requests=Counter(
                "diffstream_usage_requests",
                "Terminal outcomes metered, per tenant (bounded: see DIFFSTREAM_USAGE__*).",
                labels,
                registry=registry,
            ),
            images=Counter(
                "diffstream_usage_images",
                "Images delivered, per tenant.",
                labels,
                registry=registry,
            ),
            pixel_steps=Counter(
                "diffstream_usage_pixel_steps",
                "Width x height x denoising steps of delivered images, per tenant.",
                labels,
                registry=registry,
            ),
            accelerator_seconds=Counter(
                "diffstream_usage_accelerator_seconds",
                "Requests' shares of their pipeline calls' wall time, per tenant.",
                labels,
                registry=registry,
            ),
        )


_SHARED: weakref.WeakKeyDictionary[CollectorRegistry, tuple[UsageMetrics, TenantLabels]] = (
    weakref.WeakKeyDictionary()
)
_SHARED_LOCK = threading.Lock()


class UsageMeter:
    """Counts committed usage records into the usage counters of a registry."""

    def __init__(self, settings: UsageSettings, registry: CollectorRegistry) -> None:
        with _SHARED_LOCK:
            # `diffstream run` puts the processor and the image sink in one registry: they
            # share its counters and its bound on tenant labels.
            shared = _SHARED.get(registry)
            if shared is None:
                shared = _SHARED[registry] = (UsageMetrics.create(registry), TenantLabels(settings))
        self.metrics, self.tenants = shared

    def count(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Add the records of a committed transaction."""
        for record in records:
            labels = (self.tenants.label(record["tenant"]), record["outcome"], record["lane"])
            self.metrics.requests.labels(*labels).inc()
            self.metrics.images.labels(*labels).inc(record["images"])
            self.metrics.pixel_steps.labels(*labels).inc(record["pixel_steps"])
            self.metrics.accelerator_seconds.labels(*labels).inc(record["accelerator_s"])
