"""The local cluster's layout and topic replication, which need no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from diffstream.settings import Settings
from infra.stack.cluster import cluster_layout, remember
from infra.stack.exceptions import StackError
from infra.topic_provisioning import replication_factor


def test_three_nodes_take_ports_ten_apart_from_a_single_bootstrap(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, kafka_bootstrap="127.0.0.1:9092", kafka_controller_port=9093)
    layout = cluster_layout(settings, 3)
    assert layout.bootstrap == "127.0.0.1:9092,127.0.0.1:9102,127.0.0.1:9112"
    assert layout.voters == "1@127.0.0.1:9093,2@127.0.0.1:9103,3@127.0.0.1:9113"
    assert (layout.replication_factor, layout.min_insync_replicas) == (3, 2)
    assert len({node.state_dir for node in layout.nodes}) == 3


def test_a_bootstrap_naming_every_node_gives_their_ports(tmp_path: Path) -> None:
    bootstrap = "127.0.0.1:4001,127.0.0.1:4017,127.0.0.1:4033"
    layout = cluster_layout(Settings(home=tmp_path, kafka_bootstrap=bootstrap), 3)
    assert [node.port for node in layout.nodes] == [4001, 4017, 4033]


def test_data_formatted_for_one_broker_refuses_three_and_names_the_fix(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    remember(settings, cluster_layout(settings, 1))
    assert cluster_layout(settings).brokers == 1  # `stack down` finds what `up` started
    with pytest.raises(StackError, match=r"formatted for 1 broker.*stack down --purge"):
        cluster_layout(settings, 3)


def test_replication_follows_the_cluster_unless_the_setting_overrides_it() -> None:
    assert replication_factor(Settings(), 1) == 1
    assert replication_factor(Settings(), 3) == 3
    assert replication_factor(Settings(), 5) == 3
    assert replication_factor(Settings(topic_replication_factor=2), 3) == 2
