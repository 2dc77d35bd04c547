"""The layout of the local Kafka cluster: how many KRaft nodes, their ports, their shared id.

One node is the default; ``stack up --brokers 3`` starts three combined broker+controller
nodes forming a quorum of three, as production runs (replication 3, min.insync.replicas 2).
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import NamedTuple

from diffstream.settings import Settings
from infra.stack.exceptions import StackError
from infra.stack.ports import LOCAL_HOSTS

# Node n (from 0) of a cluster whose bootstrap names one address listens on port + n * step.
PORT_STEP = 10
MAX_BROKERS = 9


class KafkaNode(NamedTuple):
    """One KRaft node: its id, where clients and the quorum reach it, its state directory."""

    node_id: int
    host: str
    port: int
    controller_port: int
    state_dir: Path


class ClusterLayout(NamedTuple):
    """Every node of the local cluster and the settings each broker gets."""

    nodes: tuple[KafkaNode, ...]
    cluster_id: str

    @property
    def brokers(self) -> int:
        return len(self.nodes)

    @property
    def voters(self) -> str:
        """controller.quorum.voters: every node is a voter."""
        return ",".join(f"{n.node_id}@{n.host}:{n.controller_port}" for n in self.nodes)

    @property
    def bootstrap(self) -> str:
        """What DIFFSTREAM_KAFKA_BOOTSTRAP should be: every node, so any one may be down."""
        return ",".join(f"{n.host}:{n.port}" for n in self.nodes)

    @property
    def replication_factor(self) -> int:
        """Replication of internal topics: every broker up to three."""
        return min(3, self.brokers)

    @property
    def min_insync_replicas(self) -> int:
        """Two of three must hold a write; one when there are fewer brokers."""
        return 2 if self.replication_factor >= 3 else 1


def _bootstrap_addresses(settings: Settings) -> list[tuple[str, int]]:
    addresses = []
    for server in settings.kafka_bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        host = host.strip("[]")
        if host not in LOCAL_HOSTS:
            raise StackError(
                f"DIFFSTREAM_KAFKA_BOOTSTRAP={settings.kafka_bootstrap} is not a local address; "
                "the local stack only runs Kafka on 127.0.0.1 or localhost"
            )
        addresses.append((host, int(port)))
    return addresses


def _record_file(settings: Settings) -> Path:
    return settings.home / "stack" / "kafka-cluster.json"


def remembered_brokers(settings: Settings) -> int | None:
    """How many brokers the stack's data was formatted for, or None before the first start."""
    try:
        return int(json.loads(_record_file(settings).read_text())["brokers"])
    except (FileNotFoundError, ValueError, KeyError):
        return None


def cluster_layout(settings: Settings, brokers: int | None = None) -> ClusterLayout:
    """The nodes for ``brokers`` (default: as last started, else DIFFSTREAM_KAFKA_BROKERS).

    Broker ports come from DIFFSTREAM_KAFKA_BOOTSTRAP when it lists one address per node;
    otherwise node n listens on the first port + n * 10 (9092, 9102, 9112), its controller on
    DIFFSTREAM_KAFKA_CONTROLLER_PORT + n * 10.
    """
    remembered = remembered_brokers(settings)
    count = brokers or remembered or settings.kafka_brokers
    if not 1 <= count <= MAX_BROKERS:
        raise StackError(f"--brokers={count}: the local stack runs 1 to {MAX_BROKERS} brokers")
    if remembered is not None and remembered != count:
        raise StackError(
            f"the stack's Kafka data under {settings.home / 'stack'} is formatted for "
            f"{remembered} broker(s), not {count}; run `diffstream stack down --purge` first"
        )
    addresses = _bootstrap_addresses(settings)
    if len(addresses) != count:
        host, port = addresses[0]
        addresses = [(host, port + n * PORT_STEP) for n in range(count)]
    stack_dir = settings.home / "stack"
    nodes = tuple(
        KafkaNode(
            node_id=n + 1,
            host=host,
            port=port,
            controller_port=settings.kafka_controller_port + n * PORT_STEP,
            # The first node keeps the single-node directory, so a one-broker stack is as before.
            state_dir=stack_dir / ("kafka" if n == 0 else f"kafka-{n + 1}"),
        )
        for n, (host, port) in enumerate(addresses)
    )
    return ClusterLayout(nodes, _cluster_id(settings))


def _cluster_id(settings: Settings) -> str:
    try:
        return str(json.loads(_record_file(settings).read_text())["cluster_id"])
    except (FileNotFoundError, ValueError, KeyError):
        # An id may start with "-"; it is passed as --cluster-id=ID for that reason.
        return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def remember(settings: Settings, layout: ClusterLayout) -> None:
    """Write the broker count and cluster id that the nodes' data directories are formatted for."""
    path = _record_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"brokers": layout.brokers, "cluster_id": layout.cluster_id}))


def forget(settings: Settings) -> None:
    """Drop the record once the data is purged."""
    _record_file(settings).unlink(missing_ok=True)
