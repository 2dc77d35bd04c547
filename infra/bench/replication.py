"""``replication_cost_ratio``: control-plane events/s (wall) on a topic replicated 3 with
min.insync.replicas 2 and acks=all, on a three-broker cluster the bench starts itself,
divided by the same on the one-broker stack, both measured in this run."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from diffstream.settings import Settings
from infra.bench.control_plane import events_per_core
from infra.bench.stats import spread
from infra.stack.local import LocalStack
from infra.stack.ports import free_port

BROKERS = 3


def replication_cost(settings: Settings, events: int, repeats: int) -> dict[str, Any]:
    """The ratio and the runs behind it; the cluster is stopped and purged afterwards."""
    single = [events_per_core(settings, events).wall for _ in range(repeats)]
    with tempfile.TemporaryDirectory(prefix="diffstream-bench-cluster-") as scratch:
        cluster_settings = settings.model_copy(
            update={
                "home": Path(scratch),
                "artifacts_dir": settings.artifacts,
                "kafka_bootstrap": ",".join(f"127.0.0.1:{free_port()}" for _ in range(BROKERS)),
                "kafka_controller_port": free_port(),
                "s3_endpoint": f"http://127.0.0.1:{free_port()}",
            }
        )
        cluster = LocalStack(cluster_settings, BROKERS)
        try:
            cluster.up()
            replicated = [
                events_per_core(cluster.settings, events, replication=BROKERS).wall
                for _ in range(repeats)
            ]
        finally:
            cluster.down(purge=True)
    one, three = spread(single).as_dict(), spread(replicated).as_dict()
    return {
        "events": events,
        "one_broker_events_per_wall_s": one,
        "three_brokers_rf3_acks_all_events_per_wall_s": three,
        "replication_cost_ratio": three["median"] / one["median"],
    }
