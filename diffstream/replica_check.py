"""Why acks=all writes to a topic go unacknowledged: too few brokers up for its min ISR.

With two of three brokers down, a KRaft cluster has lost its controller quorum: no leader
moves and no ISR shrinks, so a write is neither refused with NOT_ENOUGH_REPLICAS nor
accepted; librdkafka only reports that the message timed out. This check asks the cluster
for the topic's brokers and ``min.insync.replicas``, tries a TCP connection to each
broker, and says what is missing when fewer answer than the topic needs in sync.
"""

from __future__ import annotations

import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, BrokerMetadata, ConfigResource

from diffstream.kafka import make_admin
from diffstream.settings import Settings

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 3.0
CONNECT_TIMEOUT_S = 1.0
# One look serves every publish that fails in the same burst.
REMEMBER_S = 5.0


class ReplicaCheck:
    """Explains unacknowledged writes to a topic, at most one look per topic per burst."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._admin: AdminClient | None = None
        self._seen: dict[str, tuple[float, str | None]] = {}

    def explain(self, topic: str) -> str | None:
        """A sentence naming the missing in-sync replicas, or None when enough brokers answer
        (or the cluster cannot be asked at all: the broker probe reports that)."""
        looked_at, verdict = self._seen.get(topic, (0.0, None))
        if time.monotonic() - looked_at < REMEMBER_S:
            return verdict
        verdict = self._look(topic)
        self._seen[topic] = (time.monotonic(), verdict)
        return verdict

    def _look(self, topic: str) -> str | None:
        if self._admin is None:
            self._admin = make_admin(self._settings)
        try:
            metadata = self._admin.list_topics(topic, timeout=CHECK_TIMEOUT_S)
        except KafkaException as exc:
            log.info("could not look at the brokers of %s: %s", topic, exc)
            return None
        brokers = sorted(metadata.brokers.values(), key=lambda b: b.id)
        with ThreadPoolExecutor(max(len(brokers), 1)) as pool:
            answers = list(pool.map(_answers, brokers))
        down = [
            f"{b.host}:{b.port} (node {b.id})"
            for b, up in zip(brokers, answers, strict=True)
            if not up
        ]
        if not down:
            return None
        up_count = len(brokers) - len(down)
        answering = (
            next(b for b, up in zip(brokers, answers, strict=True) if up) if up_count else None
        )
        min_in_sync = self._min_in_sync(topic, answering)
        if min_in_sync is not None and up_count >= min_in_sync[0]:
            return None
        needs = (
            f"min.insync.replicas={min_in_sync[0]}{min_in_sync[1]}"
            if min_in_sync is not None
            else "its min.insync.replicas (which could not be read either)"
        )
        return (
            f"not enough in-sync replicas: {up_count} of {len(brokers)} brokers answer "
            f"(down: {', '.join(down)}) and {topic} needs {needs} for an acks=all write; "
            "bring a broker back (`diffstream stack status`)"
        )

    def _min_in_sync(self, topic: str, answering: BrokerMetadata | None) -> tuple[int, str] | None:
        """The topic's ``min.insync.replicas`` and where it was read. librdkafka sends a
        topic's DescribeConfigs to the controller the metadata names, and a KRaft broker
        names a random broker it believes alive, often a dead one when the quorum is lost;
        a broker's own configs go to that broker, so its setting is the fallback."""
        topic_value = self._config_value(ConfigResource(ConfigResource.Type.TOPIC, topic))
        if topic_value is not None:
            return topic_value, ""
        if answering is None:
            return None
        broker = ConfigResource(ConfigResource.Type.BROKER, str(answering.id))
        broker_value = self._config_value(broker)
        if broker_value is None:
            return None
        return broker_value, f" (node {answering.id}'s setting; the topic's could not be read)"

    def _config_value(self, resource: ConfigResource) -> int | None:
        assert self._admin is not None
        try:
            configs = self._admin.describe_configs([resource], request_timeout=CHECK_TIMEOUT_S)
            entry = configs[resource].result(timeout=CHECK_TIMEOUT_S)["min.insync.replicas"]
            return int(entry.value)
        except (KafkaException, TimeoutError, KeyError, ValueError) as exc:
            log.info("could not read min.insync.replicas of %s: %r", resource, exc)
            return None


def _answers(broker: BrokerMetadata) -> bool:
    try:
        socket.create_connection((broker.host, broker.port), CONNECT_TIMEOUT_S).close()
    except OSError:
        return False
    return True
