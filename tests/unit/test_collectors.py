"""The metrics table helper: each row becomes its collector, and a bad row is refused."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from diffstream.collectors import Collector, register_all


def test_each_row_becomes_its_collector_on_the_registry() -> None:
    registry = CollectorRegistry()
    built = register_all(
        registry,
        {
            "hits": Collector(Counter, "t_hits", "Hits.", ["route"]),
            "open": Collector(Gauge, "t_open", "Open."),
            "took": Collector(Histogram, "t_took_seconds", "Took.", buckets=(0.5, 2)),
        },
    )
    assert [type(c) for c in built.values()] == [Counter, Gauge, Histogram]
    built["hits"].labels(route="/a").inc()
    built["took"].observe(1)
    assert registry.get_sample_value("t_hits_total", {"route": "/a"}) == 1
    assert registry.get_sample_value("t_took_seconds_bucket", {"le": "0.5"}) == 0
    assert registry.get_sample_value("t_took_seconds_bucket", {"le": "2.0"}) == 1


def test_buckets_on_a_counter_are_refused_naming_the_collector() -> None:
    with pytest.raises(ValueError, match="collector t_hits: buckets are for a Histogram"):
        Collector(Counter, "t_hits", "Hits.", buckets=(1,))
