"""A three-broker cluster (issue 19, the short variant of `make chaos`'s leader-kill): topics
are replicated 3 with min.insync.replicas 2, and every role of `diffstream run` rides
through a kill -9 of one broker with every request getting exactly one outcome."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import ConfigResource

from diffstream.consuming import stable_ends
from diffstream.kafka import make_admin, make_consumer, make_producer
from diffstream.settings import Settings
from diffstream.tables import CompactedTable
from infra.chaos.cluster_faults import request_leaders, wait_in_sync
from infra.chaos.load import digits_request
from infra.chaos.stack import ChaosStack
from infra.stack.isolated import isolated_settings
from infra.stack.local import LocalStack
from infra.stack.ports import free_port
from producers.client.publisher import Publisher
from producers.exceptions import PublishError
from schemas.topics import COMPLETED, REQUESTS, RESULTS, STATUS
from tests.integration.broker_kills import UnderLoad, assert_rode_through, roles_under_load

pytestmark = pytest.mark.integration

REQUESTS_SENT = 30
BROKER_DOWN_S = 3.0
PUBLISH_TIMEOUT_S = 5.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Three KRaft nodes and MinIO on free ports, stopped and purged after the module."""
    bootstrap = ",".join(f"127.0.0.1:{free_port()}" for _ in range(3))
    home = tmp_path_factory.mktemp("three-brokers")
    local = LocalStack(isolated_settings(home, kafka_bootstrap=bootstrap, topic_partitions=3), 3)
    try:
        local.up()
        yield local
    finally:
        local.down(purge=True)


def test_topics_are_replicated_three_times_with_two_in_sync(cluster: LocalStack) -> None:
    _assert_three_copies_two_in_sync(cluster.settings, cluster.settings.topic(REQUESTS))


@pytest.mark.timeout(240)  # past the 150 s wait below, so a miss names the requests
def test_every_role_survives_a_broker_kill_on_three_brokers(
    cluster: LocalStack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stack = ChaosStack(cluster)
    home = tmp_path / "home"
    with roles_under_load(stack.settings, home, requests=REQUESTS_SENT, first_done=3) as load:
        leader = request_leaders(load.settings).most_common(1)[0][0]
        victim = stack.brokers[leader - 1]
        victim.kill()
        # The second half is published while the leader is away: the others take over.
        load.publisher.send(load.rest)
        time.sleep(BROKER_DOWN_S)
        victim.start()
        # Generous: after a kill on a loaded machine, leaders and the coordinator take a while.
        if not load.reader.wait_for(load.expected, 150):
            pytest.fail(_stalled(stack, load))
        wait_in_sync(load.settings, leader, 60)
        assert_rode_through(load, caplog, "the broker kill")


def test_the_transaction_log_and_the_offsets_are_replicated_too(cluster: LocalStack) -> None:
    """What exactly-once rests on: the coordinators' own topics, three copies, two in sync."""
    settings = cluster.settings
    # The coordinators create their topics on first use.
    producer = make_producer(settings, {"transactional.id": "replication-check"})
    producer.init_transactions(60)
    producer.flush(10)
    consumer = make_consumer(settings, {"group.id": "replication-check"})
    consumer.commit(offsets=[TopicPartition(settings.topic(REQUESTS), 0, 0)], asynchronous=False)
    consumer.close()
    for topic in ("__transaction_state", "__consumer_offsets"):
        _assert_three_copies_two_in_sync(settings, topic)


def _assert_three_copies_two_in_sync(settings: Settings, topic: str) -> None:
    admin = make_admin(settings)
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions.values()
    assert {len(p.replicas) for p in partitions} == {3}, topic
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    config = admin.describe_configs([resource])[resource].result(timeout=10)
    assert config["min.insync.replicas"].value == "2", topic


def _stalled(stack: ChaosStack, load: UnderLoad) -> str:
    """What a stalled run looked like: the outcomes missing, where each role's group stands,
    each broker's state and what every thread was doing."""
    missing = len(load.expected) - load.reader.count_done(load.expected)
    lines = [f"{missing} of {len(load.expected)} without outcome"]
    lines += _group_positions(load.settings)
    for broker in stack.brokers:
        state = "running" if broker.is_running() else "NOT running"
        lines += [f"--- {broker.name}: {state}", broker.server.process.log_tail(15)]
    for thread_id, frame in sys._current_frames().items():
        if frame.f_code.co_name != "_worker":  # an idle pool thread
            lines += [f"--- thread {thread_id}", "".join(traceback.format_stack(frame, limit=-12))]
    return "\n".join(lines)


def _group_positions(settings: Settings) -> list[str]:
    """Each role's committed offsets against its input's stable ends: where work stopped."""
    admin = make_admin(settings)
    groups = {
        settings.processor.group_id: REQUESTS,
        settings.sink.group_id: RESULTS,
        settings.webhooks.group_id: COMPLETED,
    }
    lines = []
    for group, name in groups.items():
        topic = settings.topic(name)
        try:
            found_topic = admin.list_topics(topic, timeout=10).topics[topic]
            partitions = [TopicPartition(topic, p) for p in sorted(found_topic.partitions)]
            ends = stable_ends(admin, partitions, timeout_s=10)
            request = ConsumerGroupTopicPartitions(group, partitions)
            found = admin.list_consumer_group_offsets([request])[group].result(timeout=10)
            committed = {tp.partition: tp.offset for tp in found.topic_partitions}
        except (KafkaException, TimeoutError) as exc:
            lines.append(f"--- {group}: not read: {exc}")
            continue
        pairs = [f"{p}: {committed.get(p)}/{ends[(topic, p)]}" for p in range(len(partitions))]
        lines.append(f"--- {group} on {topic} (committed/end): {', '.join(pairs)}")
    return lines


def test_a_table_syncs_after_the_leaders_of_its_partitions_move(cluster: LocalStack) -> None:
    """A table's ends are asked of the partition leaders; after a kill and restart those
    leaders have a newer epoch, and a client that kept the old one was refused for good
    (FENCED_LEADER_EPOCH: the processor's status table never caught up again)."""
    settings = cluster.settings
    topic = settings.topic(STATUS)
    table = CompactedTable(settings, topic, lambda _row: None, name="leaders-move")
    table.start()
    try:
        assert table.sync(30), "the table did not catch up before the kill"
        leader = make_admin(settings).list_topics(topic, timeout=10).topics[topic].partitions[0]
        victim = ChaosStack(cluster).brokers[leader.leader - 1]
        victim.kill()
        time.sleep(BROKER_DOWN_S)
        victim.start()
        wait_in_sync(settings, leader.leader, 60)
        producer = make_producer(settings)
        producer.produce(topic, key=b"leaders-move", value=b"{}", partition=0)
        assert producer.flush(30) == 0
        assert table.sync(30), "the table's ends were not read after the leaders moved"
    finally:
        table.stop()


def test_two_brokers_down_a_publish_names_the_missing_in_sync_replicas(
    cluster: LocalStack,
) -> None:
    """Last in the module: it leaves two brokers down (the fixture purges the cluster)."""
    settings = cluster.settings
    stack = ChaosStack(cluster)
    for broker in stack.brokers[1:]:
        broker.kill()
    started = time.monotonic()
    try:
        with (
            Publisher(settings, publish_timeout_s=PUBLISH_TIMEOUT_S) as publisher,
            pytest.raises(PublishError) as refused,
        ):
            publisher.publish(digits_request(0))
        took = time.monotonic() - started
    finally:
        stack.brokers[0].kill()  # a broker without its quorum takes 30 s to stop politely
    message = str(refused.value)
    assert "not enough in-sync replicas: 1 of 3 brokers answer" in message, message
    assert "needs min.insync.replicas" in message, message
    assert took < PUBLISH_TIMEOUT_S + 10, f"the refusal took {took:.1f}s"
