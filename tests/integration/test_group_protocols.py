"""Both group protocols a role may join with, through the broker: what each member of two
is assigned of two lanes (topics), and that the lanes spread as the protocol promises."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from diffstream.consuming import member_config
from diffstream.settings import GroupProtocol, Settings

pytestmark = pytest.mark.integration

PARTITIONS = {"interactive": 12, "backfill": 4}
SETTLE_S = 60.0


def _lanes(settings: Settings, name: str) -> list[str]:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    topics = [f"{name}.{lane}" for lane in PARTITIONS]
    futures = admin.create_topics(
        [NewTopic(t, n, 1) for t, n in zip(topics, PARTITIONS.values(), strict=True)]
    )
    for future in futures.values():
        future.result(30)
    return topics


def _members(settings: Settings, group: str, protocol: GroupProtocol) -> list[Consumer]:
    return [
        Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap,
                **member_config(
                    group,
                    f"member-{index}",
                    session_timeout_ms=10_000,
                    max_poll_interval_ms=60_000,
                    group_protocol=protocol,
                ),
            }
        )
        for index in (1, 2)
    ]


def _settled(members: list[Consumer], total: int) -> list[list[TopicPartition]]:
    """Each member's assignment once every partition is held by exactly one of them."""
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        for member in members:
            member.poll(0.2)
        held = [member.assignment() for member in members]
        owners = Counter((tp.topic, tp.partition) for tps in held for tp in tps)
        if len(owners) == total and set(owners.values()) == {1} and all(held):
            return held
    pytest.fail(f"the two members did not settle on {total} partitions within {SETTLE_S:.0f}s")


@pytest.mark.parametrize("protocol", ["consumer", "classic"])
def test_two_members_share_the_partitions_and_kip848_splits_each_lane(
    settings: Settings, protocol: GroupProtocol
) -> None:
    name = f"protocols-{protocol}-{time.monotonic_ns()}"
    topics = _lanes(settings, name)
    members = _members(settings, f"{name}-group", protocol)
    try:
        for member in members:
            member.subscribe(topics)
        held = _settled(members, sum(PARTITIONS.values()))
    finally:
        for member in members:
            member.close()
    per_lane = [Counter(tp.topic for tp in tps) for tps in held]
    if protocol == "consumer":
        # The broker's range assignor: half of each lane to each member.
        for lane, count in zip(topics, PARTITIONS.values(), strict=True):
            assert [shares[lane] for shares in per_lane] == [count // 2, count // 2]
    else:
        # Cooperative-sticky balances the total only.
        assert sorted(len(tps) for tps in held) == [8, 8]
