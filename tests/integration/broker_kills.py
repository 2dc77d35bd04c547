"""The broker-kill tests' one shape: every role of `diffstream run` on a thread, half the
requests published and some done, then a broker killed (the test's part), then every role
checked to have ridden through with exactly one outcome per request."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from diffstream.settings import Settings
from infra.chaos.load import LoadPublisher, digits_request
from infra.chaos.outcomes import OutcomeReader
from infra.chaos.verdict import COMPLETES, Expect
from tests.integration.isolation import isolate
from tests.integration.request_isolation_support import assert_outcomes
from tests.roles_support import RolesThread

# How long the first half may take to get its first outcomes.
FIRST_DONE_S = 120


@dataclass(frozen=True)
class UnderLoad:
    """The roles, what reads their outcomes, and the half of the requests not yet sent."""

    roles: RolesThread
    reader: OutcomeReader
    publisher: LoadPublisher
    rest: list[dict[str, Any]]
    expected: dict[str, Expect]

    @property
    def settings(self) -> Settings:
        """The roles' own settings (topics, groups and bucket of the test's own)."""
        return self.roles.settings


@contextmanager
def roles_under_load(
    stack: Settings, home: Path, *, requests: int, first_done: int
) -> Iterator[UnderLoad]:
    """The roles started on ``stack``, half of ``requests`` published, and (within
    ``FIRST_DONE_S``) ``first_done`` of them finished, for the block."""
    roles = RolesThread(isolate(stack), home=home)
    own = roles.settings
    records = [digits_request(i) for i in range(requests)]
    expected = {str(r["request_id"]): COMPLETES for r in records}
    with OutcomeReader(own) as reader:
        roles.start()
        publisher = LoadPublisher(own)
        publisher.send(records[: requests // 2])
        deadline = time.monotonic() + FIRST_DONE_S
        while reader.count_done(expected) < first_done and time.monotonic() < deadline:
            time.sleep(0.1)
        yield UnderLoad(roles, reader, publisher, records[requests // 2 :], expected)


def assert_rode_through(load: UnderLoad, caplog: pytest.LogCaptureFixture, fault: str) -> None:
    """Every role still running after ``fault`` (e.g. "the broker kill") and exactly one
    outcome per request."""
    role_failed = load.roles.finish()
    stopped = [r.getMessage() for r in caplog.records if r.name == "infra.together"]
    assert not role_failed, f"a role stopped after {fault}: {stopped}"
    assert not load.roles.failures, load.roles.failures
    assert_outcomes(load.reader, load.expected)
