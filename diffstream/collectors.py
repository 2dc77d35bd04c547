"""Prometheus collectors built from a table, so each role's metrics read as one list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True)
class Collector:
    """One row of a metrics table: the collector's kind, name, help, labels and buckets."""

    kind: type[Counter] | type[Gauge] | type[Histogram]
    name: str
    documentation: str
    labels: Sequence[str] = ()
    # Histograms only; None keeps prometheus_client's default buckets.
    buckets: Sequence[float] | None = None

    def __post_init__(self) -> None:
        if self.buckets is not None and self.kind is not Histogram:
            raise ValueError(
                f"collector {self.name}: buckets are for a Histogram, not a {self.kind.__name__}; "
                "drop the buckets or make it a Histogram"
            )

    def register(self, registry: CollectorRegistry) -> Counter | Gauge | Histogram:
        """This collector, registered on ``registry``."""
        if self.buckets is not None:
            return Histogram(
                self.name, self.documentation, self.labels, buckets=self.buckets, registry=registry
            )
        return self.kind(self.name, self.documentation, self.labels, registry=registry)


def register_all(registry: CollectorRegistry, table: Mapping[str, Collector]) -> dict[str, Any]:
    """Every collector of ``table`` registered on ``registry``, by field name.

    Typed ``Any`` so that a metrics ``NamedTuple`` can take them as keyword arguments; its
    field annotations stay the typed view.
    """
    return {field: row.register(registry) for field, row in table.items()}
