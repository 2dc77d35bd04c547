"""A broker restart under load (issue 13, the short variant of `make chaos`'s
broker-restart scenario): every role of `diffstream run` rides through a kill -9 of the
broker in place, and every request still gets exactly one outcome."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from infra.chaos.load import LoadPublisher, digits_request
from infra.chaos.outcomes import OutcomeReader
from infra.chaos.stack import ChaosStack
from infra.chaos.verdict import COMPLETES
from infra.stack.isolated import isolated_settings
from infra.stack.local import LocalStack
from tests.integration.isolation import isolate
from tests.integration.request_isolation_support import assert_outcomes
from tests.roles_support import RolesThread

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
        roles = RolesThread(isolate(stack.settings), home=tmp_path / "home")
        own = roles.settings
        records = [digits_request(i) for i in range(REQUESTS)]
        expected = {str(r["request_id"]): COMPLETES for r in records}
        with OutcomeReader(own) as reader:
            roles.start()
            publisher = LoadPublisher(own)
            publisher.send(records[: REQUESTS // 2])
            deadline = time.monotonic() + 120
            while reader.count_done(expected) < 5 and time.monotonic() < deadline:
                time.sleep(0.1)
            stack.brokers[0].kill()
            publisher_thread = threading.Thread(
                target=publisher.send, args=(records[REQUESTS // 2 :],), daemon=True
            )
            publisher_thread.start()  # the second half is published while the broker is away
            time.sleep(BROKER_DOWN_S)
            stack.brokers[0].start()
            publisher_thread.join(120)
            reader.wait_for(expected, 120)
            role_failed = roles.finish()
            stopped = [r.getMessage() for r in caplog.records if r.name == "infra.together"]
            assert not role_failed, f"a role stopped after the broker restart: {stopped}"
            assert not roles.failures, roles.failures
            assert_outcomes(reader, expected)
    finally:
        local.down(purge=True)
