"""A broker restart under load (issue 13, the short variant of `make chaos`'s
broker-restart scenario): every role of `diffstream run` rides through a kill -9 of the
broker in place, and every request still gets exactly one outcome."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from infra.chaos.stack import ChaosStack
from infra.stack.isolated import isolated_settings
from infra.stack.local import LocalStack
from tests.integration.broker_kills import assert_rode_through, roles_under_load

pytestmark = pytest.mark.integration

REQUESTS = 40
BROKER_DOWN_S = 5.0


def test_every_role_survives_a_broker_kill_and_nothing_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    local = LocalStack(isolated_settings(tmp_path / "home", topic_partitions=3))
    try:
        local.up()
        stack = ChaosStack(local)
        home = tmp_path / "home"
        with roles_under_load(stack.settings, home, requests=REQUESTS, first_done=5) as load:
            stack.brokers[0].kill()
            publisher_thread = threading.Thread(
                target=load.publisher.send, args=(load.rest,), daemon=True
            )
            publisher_thread.start()  # the second half is published while the broker is away
            time.sleep(BROKER_DOWN_S)
            stack.brokers[0].start()
            publisher_thread.join(120)
            load.reader.wait_for(load.expected, 120)
            assert_rode_through(load, caplog, "the broker restart")
    finally:
        local.down(purge=True)
