"""A transactional call that never returns is given up on, and cannot hold the process open."""

from __future__ import annotations

import textwrap

import pytest

from diffstream.bounded_call import call_within
from tests.unit.fresh_python import run_python

# A role whose commit got stuck: the loop gives up on the call, then the process exits.
STUCK_COMMIT_THEN_EXIT = textwrap.dedent(
    """
    import threading
    from diffstream import transactions
    from diffstream.exceptions import StuckClientError

    transactions.STUCK_GRACE_S = 0.0
    try:
        transactions.Transactions("processor")._bounded(threading.Event().wait, 0.2)
    except StuckClientError as exc:
        print("gave up:", exc)
    """
)


def test_a_process_with_a_stuck_transactional_call_still_exits() -> None:
    finished = run_python(STUCK_COMMIT_THEN_EXIT, timeout_s=30)
    assert finished.returncode == 0, finished.stderr
    assert "gave up: a transactional call did not return within 0s" in finished.stdout


def test_the_result_and_the_exception_come_back() -> None:
    assert call_within(lambda: 42, 5.0, name="answer") == 42
    with pytest.raises(ZeroDivisionError):
        call_within(lambda: 1 / 0, 5.0, name="divide")


def test_a_call_past_its_deadline_raises_timeout() -> None:
    import threading  # noqa: PLC0415

    release = threading.Event()
    with pytest.raises(TimeoutError):
        call_within(release.wait, 0.05, name="waiter")
    release.set()
