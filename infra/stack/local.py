"""`diffstream stack up|down|status`: Kafka and MinIO together, under DIFFSTREAM_HOME."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple, Protocol

from confluent_kafka import KafkaException

from diffstream.kafka import make_admin
from diffstream.s3 import ensure_bucket, make_s3_client
from diffstream.settings import Settings
from infra.stack.cluster import cluster_layout, forget, remember
from infra.stack.exceptions import StartupError
from infra.stack.kafka import LocalKafka
from infra.stack.minio import LocalMinio
from infra.stack.process import ManagedProcess
from infra.topic_provisioning import TopicOutcome, create_topics

log = logging.getLogger(__name__)


class LocalServer(Protocol):
    """What the stack needs of each of its servers."""

    name: str
    process: ManagedProcess
    install_dir: Path

    @property
    def endpoint(self) -> str: ...
    def install(self) -> None: ...
    def start(self) -> bool: ...
    def is_ready(self) -> bool: ...
    def wait_ready(self, timeout_s: float) -> None: ...
    def purge(self) -> None: ...


class ServerStatus(NamedTuple):
    """One server of the stack as `status` sees it."""

    name: str
    endpoint: str
    pid: int | None
    ready: bool


class UpReport(NamedTuple):
    """What `up` did, for printing."""

    servers: list[ServerStatus]
    started: list[str]
    topics: list[TopicOutcome]
    bucket_created: bool
    seconds: float

    @property
    def pids(self) -> list[int]:
        """The process ids of the servers that run."""
        return [server.pid for server in self.servers if server.pid is not None]


class LocalStack:
    """The local Kafka broker(s) and MinIO server as one unit.

    ``brokers`` defaults to what the stack's data was formatted for, else
    DIFFSTREAM_KAFKA_BROKERS (1). With several, ``settings`` names every node in its bootstrap,
    so that a client started while one node is down still finds the cluster.
    """

    def __init__(self, settings: Settings, brokers: int | None = None) -> None:
        self.layout = cluster_layout(settings, brokers)
        if self.layout.brokers > 1:
            settings = settings.model_copy(update={"kafka_bootstrap": self.layout.bootstrap})
        self.settings = settings
        self.brokers = tuple(LocalKafka(settings, self.layout, node) for node in self.layout.nodes)
        self.kafka = self.brokers[0]
        self.minio = LocalMinio(settings)
        self.servers: tuple[LocalServer, ...] = (*self.brokers, self.minio)

    def install(self) -> None:
        """Fetch and build what is missing (Kafka jars, the MinIO binary); a no-op when cached."""
        for server in self.servers:
            server.install()

    def up(self) -> UpReport:
        """Install, start what is not running, wait until both answer, provision; idempotent."""
        began = time.monotonic()
        self.install()
        remember(self.settings, self.layout)
        started = [server.name for server in self.servers if server.start()]
        timeout = self.settings.stack_start_timeout_s
        self.minio.wait_ready(timeout)
        for broker in self.brokers:
            broker.wait_ready(timeout)
        self.wait_for_brokers(timeout)
        topics = create_topics(self.settings)
        bucket_created = ensure_bucket(
            make_s3_client(self.settings), self.settings.s3_bucket, self.settings.s3_region
        )
        return UpReport(self.status(), started, topics, bucket_created, time.monotonic() - began)

    def down(self, purge: bool = False) -> list[str]:
        """Stop the servers this stack started (by pid file); delete their data if ``purge``."""
        # All at once: a Kafka node stopped after its peers waits for a quorum that is gone.
        with ThreadPoolExecutor(len(self.servers)) as pool:
            results = list(pool.map(lambda server: server.process.stop(), self.servers))
        stopped = [server.name for server, was in zip(self.servers, results, strict=True) if was]
        if purge:
            for server in self.servers:
                server.purge()
            forget(self.settings)
        return stopped

    def wait_for_brokers(self, timeout_s: float) -> None:
        """Block until the cluster's metadata lists every broker (replicas need them all)."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            seen = self.registered_brokers()
            if seen >= self.layout.brokers:
                return
            time.sleep(0.25)
        raise StartupError(
            f"the Kafka cluster lists {seen} of {self.layout.brokers} brokers after "
            f"{timeout_s:.0f}s; see each node's logs under {self.settings.home / 'stack'} or "
            "raise DIFFSTREAM_STACK_START_TIMEOUT_S"
        )

    def registered_brokers(self) -> int:
        """How many brokers the cluster's metadata lists now (0 when it does not answer)."""
        admin = make_admin(self.settings, {"socket.timeout.ms": 2000})
        try:
            return len(admin.list_topics(timeout=2).brokers)
        except KafkaException:
            return 0

    def status(self) -> list[ServerStatus]:
        """Each server's pid (None when not running) and whether it answers."""
        statuses = []
        for server in self.servers:
            process = server.process.running_process()
            ready = process is not None and server.is_ready()
            statuses.append(
                ServerStatus(server.name, server.endpoint, process.pid if process else None, ready)
            )
        return statuses
