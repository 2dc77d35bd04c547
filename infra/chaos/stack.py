"""The suite's own local stack, and handles on its servers that a scenario can kill."""

from __future__ import annotations

import logging
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil

from diffstream.settings import Settings
from infra.stack.isolated import isolated_settings
from infra.stack.local import LocalServer, LocalStack
from infra.stack.ports import free_port

log = logging.getLogger(__name__)

# Two processors and a third that comes and goes: enough partitions for each to own some.
SUITE_PARTITIONS = 6


def suite_settings(home: Path, **overrides: object) -> Settings:
    """Settings of a stack of the suite's own, beside any running one."""
    return isolated_settings(
        home, **{"kafka_heap": "768m", "topic_partitions": SUITE_PARTITIONS, **overrides}
    )


class ServerHandle:
    """One server of the stack (a broker, MinIO) that a scenario kills and starts again."""

    def __init__(self, server: LocalServer, start_timeout_s: float) -> None:
        self.server = server
        self.name = server.name
        self._start_timeout_s = start_timeout_s

    def kill(self) -> None:
        """SIGKILL the server: no shutdown, no flush, as a crash or a lost machine."""
        process = self.server.process.running_process()
        if process is None:
            log.warning("%s was not running when it was to be killed", self.name)
            return
        os.kill(process.pid, signal.SIGKILL)
        with suppress(psutil.Error):
            process.wait(timeout=30)
        log.info("killed %s (pid %d)", self.name, process.pid)

    def start(self) -> float:
        """Start the server on its data and wait until it answers; the seconds that took."""
        began = time.monotonic()
        self.server.start()
        self.server.wait_ready(self._start_timeout_s)
        return time.monotonic() - began

    def is_running(self) -> bool:
        """Whether the server's process is alive."""
        return self.server.process.running_process() is not None


class ChaosStack:
    """A started local stack: its settings and its servers as killable handles."""

    def __init__(self, stack: LocalStack) -> None:
        self.local = stack
        self.settings = stack.settings
        timeout = stack.settings.stack_start_timeout_s
        # A list, so that a cluster of several brokers fits the same scenarios.
        self.brokers = [ServerHandle(broker, timeout) for broker in stack.brokers]
        self.object_store = ServerHandle(stack.minio, timeout)

    def heal(self) -> None:
        """Start whatever a scenario left down, so that the next one begins whole."""
        for server in (*self.brokers, self.object_store):
            if not server.is_running():
                log.warning("%s was left down: starting it", server.name)
                server.start()


@contextmanager
def chaos_stack(home: Path | None = None, brokers: int = 1) -> Iterator[ChaosStack]:
    """Kafka (``brokers`` nodes) and MinIO on free ports under a throwaway home, stopped and
    purged afterwards."""
    with tempfile.TemporaryDirectory(prefix="diffstream-chaos-") as scratch:
        overrides: dict[str, object] = {}
        if brokers > 1:
            # One free port per node in the bootstrap; controllers at the base port + 10 each.
            ports = ",".join(f"127.0.0.1:{free_port()}" for _ in range(brokers))
            overrides = {"kafka_bootstrap": ports, "kafka_cluster_heap": "384m"}
        local = LocalStack(suite_settings(home or Path(scratch), **overrides), brokers)
        try:
            local.up()
            yield ChaosStack(local)
        finally:
            local.down(purge=True)
