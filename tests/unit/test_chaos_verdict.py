"""The fault suite's judging (pure): what counts as lost, doubled or wrong, and how long a
fault took to recover from; and the role environment parses back into the same settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from diffstream.settings import EngineSettings, Settings, WebhookSettings
from infra.chaos.env import role_env
from infra.chaos.outcomes import Terminal
from infra.chaos.verdict import (
    COMPLETES,
    Expect,
    Fault,
    delayed_after,
    fails,
    longest_gap_s,
    recovery_s,
    tally,
)


def _completed(request_id: str, at: float = 0.0) -> Terminal:
    return Terminal(request_id, "completed", None, "", (), at)


def _failed(request_id: str, code: str, message: str = "", at: float = 0.0) -> Terminal:
    return Terminal(request_id, "failed", code, message, (), at)


def test_tally_counts_lost_doubled_and_wrong() -> None:
    expected = {
        "ok": COMPLETES,
        "lost": COMPLETES,
        "twice": COMPLETES,
        "failed-instead": COMPLETES,
        "both": COMPLETES,
        "impostor": Expect(completed=1, failed=("duplicate_request_id",)),
        "neighbour": fails("invalid_request", message_contains="negative_prompt"),
    }
    outcomes = {
        "ok": [_completed("ok")],
        "twice": [_completed("twice"), _completed("twice")],
        "failed-instead": [_failed("failed-instead", "unknown")],
        "both": [_completed("both"), _failed("both", "unknown")],
        "impostor": [_completed("impostor"), _failed("impostor", "duplicate_request_id")],
        "neighbour": [_failed("neighbour", "invalid_request", "`prompt` is bad")],
    }
    result = tally(expected, outcomes)
    assert result.requests == 7
    assert result.lost == ["lost"]
    assert sorted(result.duplicated) == ["both", "twice"]
    # The neighbour failed with the right code but does not name its field.
    assert sorted(result.wrong) == ["both", "failed-instead", "neighbour"]


def test_an_expected_pair_of_outcomes_is_neither_doubled_nor_wrong() -> None:
    expected = {"id": Expect(completed=1, failed=("duplicate_request_id",))}
    outcomes = {"id": [_completed("id"), _failed("id", "duplicate_request_id")]}
    result = tally(expected, outcomes)
    assert (result.lost, result.duplicated, result.wrong) == ([], [], [])


def test_recovery_lasts_until_the_last_request_the_fault_delayed() -> None:
    fault = Fault("kill", injected_at=10.0, healed_at=11.0, in_flight=frozenset({"a"}))
    acked = {"a": 9.9, "fast": 12.0, "slow": 13.0, "next-fault": 30.0}
    first = {"a": 11.0, "fast": 12.5, "slow": 24.0, "next-fault": 45.0}
    # "slow" waited 11 s (delayed), "fast" 0.5 s; "next-fault" belongs to the next fault.
    assert recovery_s(fault, until=30.0, acked_at=acked, first_outcome=first, delayed_s=2.0) == (
        pytest.approx(14.0)
    )
    lost = {k: v for k, v in first.items() if k != "slow"}
    assert recovery_s(fault, until=30.0, acked_at=acked, first_outcome=lost, delayed_s=2.0) is None
    calm = Fault("kill", injected_at=10.0, healed_at=11.0, in_flight=frozenset())
    quick = {"fast": 12.5, "slow": 13.5, "next-fault": 45.0}
    assert recovery_s(calm, until=30.0, acked_at=acked, first_outcome=quick, delayed_s=2.0) == 0.0


def test_delayed_means_three_times_the_usual_wait_on_a_slow_machine() -> None:
    assert delayed_after(0.2) == 2.0
    assert delayed_after(1.5) == pytest.approx(4.5)


def test_longest_gap_between_outcomes() -> None:
    assert longest_gap_s([5.0, 1.0, 2.0, 9.5]) == pytest.approx(4.5)
    assert longest_gap_s([3.0]) == 0.0


def test_role_env_parses_back_into_the_same_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = Settings(
        home=tmp_path,
        kafka_bootstrap="127.0.0.1:19092",
        topic_prefix="chaos-x.",
        s3_bucket="chaos-x-images",
        engine=EngineSettings(device="cpu", preload=("digits",), warmup=False, cpu_threads=1),
        webhooks=WebhookSettings(
            signing_secret=SecretStr("whsec_c2VjcmV0"), allow_hosts=frozenset({"127.0.0.1"})
        ),
    )
    for name, value in role_env(settings).items():
        monkeypatch.setenv(name, value)
    parsed = Settings()
    assert parsed.kafka_bootstrap == settings.kafka_bootstrap
    assert parsed.topic_prefix == settings.topic_prefix
    assert parsed.s3_bucket == settings.s3_bucket
    assert parsed.home == settings.home
    assert parsed.engine == settings.engine
    assert parsed.processor == settings.processor
    assert parsed.sink == settings.sink
    assert parsed.limits == settings.limits
    assert parsed.webhooks.allow_hosts == settings.webhooks.allow_hosts
    assert parsed.webhooks.signing_secret is not None
    assert parsed.webhooks.signing_secret.get_secret_value() == "whsec_c2VjcmV0"
