"""Usage metering without services: the records, the report's sums, the bounded counters."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from diffstream.usage_metrics import NO_TENANT, OTHER, TenantLabels, UsageMeter, UsageSettings
from producers.exceptions import InputError
from producers.operations.usage import aggregate, groupings, to_csv, total
from schemas import builders
from schemas.codec import Codec
from schemas.events import ErrorCode, EventName
from schemas.examples import example
from schemas.usage import completed_usage, failed_usage, lane_of, new_usage, outcome_of
from schemas.usage_events import UsageEvents

CODEC = Codec.without_registry()


def _round_trip(usage: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = CODEC.decode(
        CODEC.encode(EventName.USAGE, usage), expected=EventName.USAGE
    ).value
    return decoded


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (None, "completed"),
        (ErrorCode.CANCELLED, "cancelled"),
        (ErrorCode.EXPIRED, "expired"),
        (ErrorCode.EXPIRED_IN_TRANSIT, "expired"),
        (ErrorCode.INFERENCE_ERROR, "failed"),
        (ErrorCode.INVALID_REQUEST, "failed"),
        ("a-code-from-a-newer-writer", "failed"),
    ],
)
def test_each_error_code_is_metered_as_one_outcome(code: str | None, outcome: str) -> None:
    assert outcome_of(code) == outcome


def test_the_lane_is_the_request_topic_under_any_prefix() -> None:
    assert lane_of("t1234.diffusion.requests.batch") == "batch"
    assert lane_of("diffusion.requests") == "interactive"
    assert lane_of(None) == "interactive"


def test_a_completion_is_charged_its_share_images_and_pixel_steps() -> None:
    result = example(EventName.RESULT)
    completed = example(EventName.COMPLETED)
    usage = _round_trip(completed_usage(result, completed))
    request = result["request"]
    assert str(usage["request_id"]) == str(result["request_id"])
    assert (usage["outcome"], usage["error_code"]) == ("completed", None)
    assert (usage["tenant"], usage["model"], usage["revision"]) == ("acme", "tiny-sd", "main")
    assert (usage["lane"], usage["batch_id"]) == ("interactive", "backfill-2024-06")
    assert usage["images"] == 1
    assert usage["pixel_steps"] == 512 * 512 * request["steps"]
    assert usage["accelerator_s"] == 0.42  # the result's share, not its whole call's 0.84
    assert usage["queue_s"] == result["timings"]["queued_s"]
    assert usage["recorded_at"] == completed["completed_at"]


def test_a_v1_result_is_charged_its_inference_time() -> None:
    result = {**example(EventName.RESULT), "accelerator_s": None}
    usage = completed_usage(result, example(EventName.COMPLETED))
    assert usage["accelerator_s"] == result["timings"]["inference_s"]


def test_a_failure_is_charged_nothing_and_waited_until_it_was_decided() -> None:
    request = builders.new_request("a red fox", tenant="acme", lane="batch")
    failed = builders.new_failed(
        request["request_id"], ErrorCode.CANCELLED, "cancelled before processing began"
    )
    failed["failed_at"] = request["submitted_at"] + timedelta(seconds=3)
    usage = _round_trip(failed_usage(request, failed, lane="batch"))
    assert (usage["outcome"], usage["error_code"], usage["lane"]) == (
        "cancelled",
        "cancelled",
        "batch",
    )
    assert (usage["images"], usage["pixel_steps"], usage["accelerator_s"]) == (0, 0, 0.0)
    assert usage["queue_s"] == 3.0
    assert usage["model"] == "tiny-sd"


def test_an_invalid_request_still_gets_a_usage_event() -> None:
    # Decoded but wrong-typed fields: what an invalid request can look like.
    odd: dict[str, Any] = {"request_id": uuid.uuid4(), "model": 7, "tenant": ["x"], "steps": "many"}
    failed = builders.new_failed(odd["request_id"], ErrorCode.INVALID_REQUEST, "bad")
    usage = _round_trip(failed_usage(odd, failed, lane="interactive"))
    assert (usage["model"], usage["tenant"], usage["queue_s"]) == (None, None, 0.0)
    images = [{"width": 8, "height": 8}]
    assert (
        new_usage(odd, recorded_at=failed["failed_at"], lane="batch", images=images)["pixel_steps"]
        == 0
    )


def _usage(tenant: str | None, outcome: str = "completed", **fields: Any) -> dict[str, Any]:
    record = {
        "request_id": uuid.uuid4(),
        "outcome": outcome,
        "tenant": tenant,
        "model": "tiny-sd",
        "revision": None,
        "lane": "interactive",
        "images": 1 if outcome == "completed" else 0,
        "pixel_steps": 64 * 64 * 2 if outcome == "completed" else 0,
        "accelerator_s": 0.5 if outcome == "completed" else 0.0,
        "queue_s": 1.0,
    }
    return {**record, **fields}


def test_the_report_adds_up_each_group_and_the_total() -> None:
    events = [
        _usage("acme"),
        _usage("acme", images=2, pixel_steps=2 * 64 * 64 * 2, accelerator_s=1.0, queue_s=3.0),
        _usage("acme", "expired"),
        _usage("globex", "cancelled", lane="batch"),
        _usage(None, "failed", model="digits", revision="r2"),
    ]
    rows = aggregate(events, ["tenant"])
    assert [row.key for row in rows] == [("-",), ("acme",), ("globex",)]
    acme = rows[1]
    assert acme.values() == [3, 2, 0, 0, 1, 3, 3 * 64 * 64 * 2, 1.5, 5.0 / 3]
    whole = total(rows, 1)
    assert whole.values()[:6] == [5, 2, 1, 1, 1, 3]
    by_model = aggregate(events, ["model", "lane"])
    assert [row.key for row in by_model] == [
        ("digits@r2", "interactive"),
        ("tiny-sd", "batch"),
        ("tiny-sd", "interactive"),
    ]


def test_the_csv_has_a_header_and_one_line_per_group() -> None:
    rows = aggregate([_usage("acme"), _usage("acme", "failed")], ["tenant"])
    assert to_csv(rows, ["tenant"]).splitlines() == [
        "tenant,requests,completed,failed,cancelled,expired,images,pixel_steps,"
        "accelerator_s,mean_queue_s",
        "acme,2,1,1,0,0,1,8192,0.5,1.0",
    ]


def test_an_unknown_grouping_names_the_choices() -> None:
    assert groupings("tenant, lane") == ("tenant", "lane")
    with pytest.raises(InputError, match=r"--by 'tenants'.*tenant, model, lane"):
        groupings("tenants")


def test_tenant_labels_are_bounded() -> None:
    labels = TenantLabels(UsageSettings(metric_tenants=("vip",), metric_tenant_limit=2))
    assert [labels.label(t) for t in ("a", "b", "c", "a", "vip", None, "")] == [
        "a",
        "b",
        OTHER,
        "a",
        "vip",
        NO_TENANT,
        NO_TENANT,
    ]


def test_meters_of_one_registry_share_counters_and_the_bound() -> None:
    registry = CollectorRegistry()
    settings = UsageSettings(metric_tenant_limit=1)
    processor, sink = UsageMeter(settings, registry), UsageMeter(settings, registry)
    processor.count([_usage("acme", "failed")])
    sink.count([_usage("acme"), _usage("globex")])

    def sample(name: str, tenant: str, outcome: str = "completed") -> float | None:
        labels = {"tenant": tenant, "outcome": outcome, "lane": "interactive"}
        return registry.get_sample_value(name, labels)

    assert sample("diffstream_usage_requests_total", "acme", "failed") == 1
    assert sample("diffstream_usage_images_total", "acme") == 1
    assert sample("diffstream_usage_images_total", OTHER) == 1  # globex: past the bound
    assert sample("diffstream_usage_accelerator_seconds_total", "acme") == 0.5
    assert sample("diffstream_usage_pixel_steps_total", "acme") == 64 * 64 * 2


def test_metric_tenants_are_read_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    from diffstream.settings import Settings  # noqa: PLC0415  # read after the patch

    monkeypatch.setenv("DIFFSTREAM_USAGE__METRIC_TENANTS", "acme, globex")
    assert Settings().usage.metric_tenants == ("acme", "globex")


def test_usage_events_count_what_was_committed_and_forget_a_dropped_batch() -> None:
    from diffstream.settings import Settings  # noqa: PLC0415

    registry = CollectorRegistry()
    events = UsageEvents(Settings(), CODEC, registry)
    record = {**example(EventName.USAGE), "tenant": "acme", "outcome": "completed"}
    events.output({**record, "request_id": uuid.uuid4()})  # a batch that was dropped
    committed = [events.output({**record, "request_id": uuid.uuid4()}) for _ in range(2)]
    events.committed(committed)
    events.committed([])  # the dropped batch's record is not counted later either
    labels = {"tenant": "acme", "outcome": "completed", "lane": record["lane"]}
    assert registry.get_sample_value("diffstream_usage_requests_total", labels) == 2
