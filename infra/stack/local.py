"""`diffstream stack up|down|status`: Kafka and MinIO together, under DIFFSTREAM_HOME."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import NamedTuple, Protocol

from diffstream.s3 import ensure_bucket, make_s3_client
from diffstream.settings import Settings
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


class LocalStack:
    """The local Kafka broker and MinIO server as one unit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kafka = LocalKafka(settings)
        self.minio = LocalMinio(settings)
        self.servers: tuple[LocalServer, ...] = (self.kafka, self.minio)

    def install(self) -> None:
        """Fetch and build what is missing (Kafka jars, the MinIO binary); a no-op when cached."""
        for server in self.servers:
            server.install()

    def up(self) -> UpReport:
        """Install, start what is not running, wait until both answer, provision; idempotent."""
        began = time.monotonic()
        self.install()
        started = [server.name for server in self.servers if server.start()]
        timeout = self.settings.stack_start_timeout_s
        self.minio.wait_ready(timeout)
        self.kafka.wait_ready(timeout)
        topics = create_topics(self.settings)
        bucket_created = ensure_bucket(
            make_s3_client(self.settings), self.settings.s3_bucket, self.settings.s3_region
        )
        return UpReport(self.status(), started, topics, bucket_created, time.monotonic() - began)

    def down(self, purge: bool = False) -> list[str]:
        """Stop the servers this stack started (by pid file); delete their data if ``purge``."""
        stopped = [server.name for server in self.servers if server.process.stop()]
        if purge:
            for server in self.servers:
                server.purge()
        return stopped

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
