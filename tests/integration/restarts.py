"""The fault tests' one harness: a role killed with SIGKILL mid-run, then run again."""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple


class SecondLife(NamedTuple):
    """What the restarted process wrote, how it exited and the end of its stderr."""

    events: list[dict[str, Any]]
    returncode: int
    stderr: str


def kill_then_rerun(
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    started: Callable[[], object],
    finished: Callable[[], list[dict[str, Any]]],
) -> SecondLife:
    """Run ``command``, SIGKILL it as soon as ``started()`` returns, run it again until
    ``finished()`` returns the events it waited for, then stop it with SIGTERM."""
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        started()
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        first.kill()
    second = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        events = finished()
    finally:
        second.send_signal(signal.SIGTERM)
        _, stderr = second.communicate(timeout=60)
    return SecondLife(events, second.returncode, stderr.decode()[-3000:])


def assert_one_each(life: SecondLife, requests: Sequence[Mapping[str, Any]]) -> None:
    """Exactly one event per request, none lost, and a clean exit of the second life."""
    ids = Counter(str(event["request_id"]) for event in life.events)
    assert set(ids) == {str(r["request_id"]) for r in requests}, life.stderr
    assert max(ids.values()) == 1
    assert life.returncode == 0, life.stderr
