"""Apache Kafka as local processes: jars from Maven Central, KRaft combined broker+controller."""

from __future__ import annotations

import logging
import shutil
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

from confluent_kafka import KafkaException

from diffstream.kafka import make_admin
from diffstream.settings import Settings
from infra.stack.cluster import ClusterLayout, KafkaNode, cluster_layout
from infra.stack.exceptions import StackError, StartupError
from infra.stack.ports import LOCAL_HOSTS, ensure_free, is_listening
from infra.stack.process import ManagedProcess
from infra.stack.tools import require, run_download

log = logging.getLogger(__name__)

_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def _kafka_resource(name: str) -> Path:
    return Path(str(resources.files("infra.kafka").joinpath(name)))


def kafka_version() -> str:
    """The pinned Kafka version, read from the pom so that it is written in one place."""
    root = ET.parse(_kafka_resource("pom.xml")).getroot()
    version = root.findtext("m:properties/m:kafka.version", namespaces=_POM_NS)
    if not version:
        raise StackError("infra/kafka/pom.xml does not pin <kafka.version>")
    return version


def local_bootstrap(settings: Settings) -> tuple[str, int]:
    """The host and port the local broker listens on, from DIFFSTREAM_KAFKA_BOOTSTRAP."""
    first = settings.kafka_bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    host = host.strip("[]")
    if host not in LOCAL_HOSTS:
        raise StackError(
            f"DIFFSTREAM_KAFKA_BOOTSTRAP={settings.kafka_bootstrap} is not a local address; "
            "the local stack only runs Kafka on 127.0.0.1 or localhost"
        )
    return host, int(port)


class LocalKafka:
    """One KRaft broker+controller node under DIFFSTREAM_HOME (node 1 of one by default)."""

    def __init__(
        self,
        settings: Settings,
        layout: ClusterLayout | None = None,
        node: KafkaNode | None = None,
    ) -> None:
        self.settings = settings
        if layout is None:
            local_bootstrap(settings)
            layout = cluster_layout(settings, 1)
        self.layout = layout
        self.node = node or layout.nodes[0]
        self.name = "kafka" if layout.brokers == 1 else f"kafka-{self.node.node_id}"
        self.host, self.port = self.node.host, self.node.port
        self.controller_port = self.node.controller_port
        self.version = kafka_version()
        self.install_dir = settings.artifacts / f"kafka-{self.version}"
        self.libs = self.install_dir / "libs"
        self.state_dir = self.node.state_dir
        self.data_dir = self.state_dir / "data"
        self.logs_dir = self.state_dir / "logs"
        self.process = ManagedProcess("kafka", self.state_dir)

    @property
    def endpoint(self) -> str:
        """Where clients connect."""
        return f"{self.host}:{self.port}"

    def is_installed(self) -> bool:
        """Whether the jars are already resolved."""
        return (self.install_dir / ".complete").exists()

    def install(self) -> None:
        """Resolve the broker's jars with Maven into the artifacts cache (once)."""
        if self.is_installed():
            return
        mvn = require("mvn", "resolve the Kafka broker's jars")
        require("java", "run the Kafka broker")
        log.info("resolving Kafka %s jars with Maven (first run only)", self.version)
        self.install_dir.mkdir(parents=True, exist_ok=True)
        pom = self.install_dir / "pom.xml"
        shutil.copyfile(_kafka_resource("pom.xml"), pom)
        staging = self.install_dir / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        run_download(
            [
                mvn,
                "-B",
                "-q",
                "-f",
                str(pom),
                f"-Dmaven.repo.local={self.settings.artifacts / 'maven-repo'}",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
            ],
            f"resolving Kafka {self.version} from Maven Central",
        )
        shutil.rmtree(self.libs, ignore_errors=True)
        staging.rename(self.libs)
        (self.install_dir / ".complete").write_text(self.version)

    def _server_properties(self) -> Path:
        listeners = (
            f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}"
        )
        replicas = str(self.layout.replication_factor)
        min_isr = str(self.layout.min_insync_replicas)
        lines = {
            "process.roles": "broker,controller",
            "node.id": str(self.node.node_id),
            "controller.quorum.voters": self.layout.voters,
            "listeners": listeners,
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            # Topics are provisioned by `diffstream topics create`; a typo must not make one.
            "auto.create.topics.enable": "false",
            # Internal topics as production has them: replicated to three, two in sync.
            "default.replication.factor": replicas,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
            "transaction.state.log.num.partitions": "10",
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": min_isr,
            "group.initial.rebalance.delay.ms": "0",
            "log.cleaner.backoff.ms": "1000",
            # Room for result events carrying images (see schemas.topics).
            "message.max.bytes": str(64 * 1024 * 1024 + 1024 * 1024),
            "socket.request.max.bytes": str(128 * 1024 * 1024),
        }
        path = self.state_dir / "server.properties"
        path.write_text("".join(f"{key}={value}\n" for key, value in lines.items()))
        return path

    def _heap(self) -> str:
        return (
            self.settings.kafka_heap
            if self.layout.brokers == 1
            else self.settings.kafka_cluster_heap
        )

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            require("java", "run the Kafka broker"),
            "-Xms128m",
            f"-Xmx{self._heap()}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            # The client JIT alone: a local broker's load is light, and the server JIT's
            # compiles took a fifth of a core for minutes after each start (2-core machine).
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={_kafka_resource('log4j2.xml')}",
            f"-Dkafka.logs.dir={self.logs_dir}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def start(self) -> bool:
        """Start the broker unless it already runs; True when this call started it."""
        if self.process.running_process() is not None:
            return False
        ensure_free(self.host, self.port, "Kafka", "DIFFSTREAM_KAFKA_BOOTSTRAP")
        ensure_free(
            self.host,
            self.controller_port,
            "the Kafka controller",
            "DIFFSTREAM_KAFKA_CONTROLLER_PORT",
        )
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        config = self._server_properties()
        if not (self.data_dir / "meta.properties").exists():
            # Passed as --cluster-id=ID: an id may start with "-", which the tool would read
            # as an option (one format in 64 failed that way). Every node shares the id.
            cluster_id = self.layout.cluster_id
            run_download(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    f"--cluster-id={cluster_id}",
                    "-c",
                    str(config),
                ),
                "formatting the Kafka data directory",
            )
        self.process.start(self._java("kafka.Kafka", str(config)), {}, self.state_dir)
        return True

    def is_ready(self) -> bool:
        """Whether the broker answers a metadata request."""
        if not is_listening(self.host, self.port):
            return False
        # Asked of this node alone: another node answering says nothing about this one.
        admin = make_admin(
            self.settings, {"bootstrap.servers": self.endpoint, "socket.timeout.ms": 2000}
        )
        try:
            return bool(admin.list_topics(timeout=2).brokers)
        except KafkaException:
            return False

    def wait_ready(self, timeout_s: float) -> None:
        """Block until the broker answers metadata requests, or fail with its last output."""
        server_log = self.logs_dir / "server.log"
        ready = self.process.wait_until(
            self.is_ready, timeout_s, label="Kafka", interval_s=0.25, see=str(server_log)
        )
        if ready:
            return
        raise StartupError(
            f"Kafka did not answer on {self.endpoint} within {timeout_s:.0f}s; see {server_log}"
        )

    def purge(self) -> None:
        """Delete the broker's data and logs (not the downloaded jars)."""
        shutil.rmtree(self.state_dir, ignore_errors=True)
