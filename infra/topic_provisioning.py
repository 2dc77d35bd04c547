"""Idempotent provisioning of every diffstream topic through the Kafka AdminClient."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any, NamedTuple

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from diffstream.exceptions import DiffstreamError
from diffstream.kafka import make_admin
from diffstream.settings import Settings
from schemas.topics import TOPICS, TopicSpec

log = logging.getLogger(__name__)


class TopicProvisioningError(DiffstreamError):
    """A topic could not be created or reconfigured."""


class TopicOutcome(NamedTuple):
    """What provisioning did to one topic."""

    name: str
    action: str  # "created", "updated" or "unchanged"
    partitions: int


def create_topics(settings: Settings, timeout_s: float = 30.0) -> list[TopicOutcome]:
    """Create missing topics, grow partition counts and apply configs; safe to re-run."""
    admin = make_admin(settings)
    try:
        metadata = admin.list_topics(timeout=timeout_s)
        existing = metadata.topics
    except KafkaException as exc:
        raise TopicProvisioningError(
            f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}"
        ) from exc
    replication = replication_factor(settings, len(metadata.brokers))
    outcomes = []
    for spec in TOPICS:
        name = settings.topic(spec.name)
        partitions = settings.topic_partitions or spec.partitions
        if name not in existing:
            _create(
                admin,
                spec,
                name=name,
                partitions=partitions,
                replication=replication,
                timeout_s=timeout_s,
            )
            outcomes.append(TopicOutcome(name, "created", partitions))
            continue
        current = len(existing[name].partitions)
        changed = _apply_config(admin, name, _topic_config(spec, replication), timeout_s)
        if current < partitions:
            _wait(admin.create_partitions([NewPartitions(name, partitions)]), name, timeout_s)
            changed = True
        elif current > partitions:
            log.warning("%s has %d partitions, more than the %d asked", name, current, partitions)
        outcomes.append(
            TopicOutcome(name, "updated" if changed else "unchanged", max(current, partitions))
        )
    return outcomes


def delete_topics(settings: Settings, timeout_s: float = 30.0) -> None:
    """Delete every topic of ``settings``' prefix (a bench's or a test's own), as cleanup: a
    failure is logged, not raised: left behind, a dozen topics a run pile up on the broker."""
    names = [settings.topic(spec.name) for spec in TOPICS]
    try:
        admin = make_admin(settings)  # held: a collected client fails its futures
        futures = admin.delete_topics(names, operation_timeout=timeout_s)
        for future in futures.values():
            future.result()
    except Exception as exc:  # cleanup only
        log.warning("could not delete the topics of %r: %s", settings.topic_prefix, exc)


def replication_factor(settings: Settings, brokers: int) -> int:
    """DIFFSTREAM_TOPIC_REPLICATION_FACTOR when set, else three copies once there are three
    brokers (as production runs), else one per broker."""
    if "topic_replication_factor" in settings.model_fields_set:
        return settings.topic_replication_factor
    return max(1, min(3, brokers))


def _topic_config(spec: TopicSpec, replication: int) -> dict[str, str]:
    """The spec's config, with min.insync.replicas=2 where three copies are kept: a write
    acknowledged by acks=all then survives losing any one broker."""
    config = dict(spec.config)
    if replication >= 3:
        config.setdefault("min.insync.replicas", str(replication - 1))
    return config


def _create(
    admin: AdminClient,
    spec: TopicSpec,
    *,
    name: str,
    partitions: int,
    replication: int,
    timeout_s: float,
) -> None:
    topic = NewTopic(
        name,
        num_partitions=partitions,
        replication_factor=replication,
        config=_topic_config(spec, replication),
    )
    try:
        _wait(admin.create_topics([topic], operation_timeout=timeout_s), name, timeout_s)
    except TopicProvisioningError as exc:
        # Another provisioner won the race: that is the idempotent outcome we want.
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise
    log.info("created %s (%d partitions, %d replicas)", name, partitions, replication)


def _apply_config(admin: AdminClient, name: str, config: dict[str, str], timeout_s: float) -> bool:
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    described = admin.describe_configs([resource])[resource].result(timeout=timeout_s)
    stale = {
        key: value
        for key, value in config.items()
        if key not in described or described[key].value != value
    }
    if not stale:
        return False
    set_topic_config(admin, name, stale, timeout_s)
    log.info("updated %s: %s", name, ", ".join(f"{k}={v}" for k, v in stale.items()))
    return True


def set_topic_config(
    admin: AdminClient, name: str, config: Mapping[str, str], timeout_s: float
) -> None:
    """Set the keys of ``config`` on topic ``name`` (the others stay as they are)."""
    resource = ConfigResource(
        ConfigResource.Type.TOPIC,
        name,
        incremental_configs=[
            ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
            for key, value in config.items()
        ],
    )
    _wait(admin.incremental_alter_configs([resource]), name, timeout_s)


def _wait(futures: dict[Any, Future[Any]], name: str, timeout_s: float) -> None:
    for future in futures.values():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            raise TopicProvisioningError(f"topic {name}: {exc}") from exc
