"""The status view's fold: order-insensitive, idempotent, and batch counts that add up."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.events import EventName
from schemas.examples import example
from sinks.view.fold import add_counts, batch_deltas, bucket, fold, summarize

T0 = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
RID = uuid.uuid4()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def request() -> tuple[EventName, dict[str, Any]]:
    record = example(EventName.REQUEST)
    record.update(request_id=RID, submitted_at=at(0), batch_id="b1", tenant="acme")
    return EventName.REQUEST, record


def status(state: str, seconds: float) -> tuple[EventName, dict[str, Any]]:
    record = example(EventName.STATUS)
    record.update(
        request_id=RID,
        state=state,
        updated_at=at(seconds),
        error_code=None,
        batch_id="b1",
        message=None,
    )
    return EventName.STATUS, record


def completed(seconds: float = 3) -> tuple[EventName, dict[str, Any]]:
    record = example(EventName.COMPLETED)
    record.update(request_id=RID, completed_at=at(seconds))
    record["images"] = [dict(record["images"][0], uri=f"s3://b/{RID}/0.png")]
    record["context"] = dict(record["context"], batch_id="b1", submitted_at=at(0))
    return EventName.COMPLETED, record


def failed(seconds: float = 3) -> tuple[EventName, dict[str, Any]]:
    record = example(EventName.FAILED)
    record.update(request_id=RID, failed_at=at(seconds))
    return EventName.FAILED, record


def fold_all(events: list[tuple[EventName, dict[str, Any]]]) -> dict[str, Any]:
    view: dict[str, Any] | None = None
    for event, record in events:
        view = fold(view, event, record)
    assert view is not None
    return view


def test_a_request_is_queued_with_its_routing_fields() -> None:
    view = fold_all([request()])
    assert view["request_id"] == str(RID)
    assert view["state"] == "queued"
    assert (view["batch_id"], view["tenant"], view["lane"]) == ("b1", "acme", "interactive")
    assert view["submitted_at"] == "2024-06-01T10:00:00.000+00:00"
    assert view["updated_at"] == view["submitted_at"]


def test_completed_carries_uris_timings_and_time() -> None:
    event, record = completed()
    view = fold_all([request(), status("processing", 1), (event, record)])
    assert view["state"] == "completed"
    assert view["image_uris"] == [image["uri"] for image in record["images"]]
    assert view["timings"]["end_to_end_s"] == 0.9
    assert view["updated_at"] == "2024-06-01T10:00:03.000+00:00"
    assert view["model"] == "tiny-sd"


def test_failed_carries_the_error() -> None:
    view = fold_all([request(), failed()])
    assert (view["state"], view["error_code"], view["retryable"]) == (
        "failed",
        "inference_error",
        True,
    )
    assert "CUDA" in view["message"]


def test_order_of_arrival_does_not_matter() -> None:
    events = [request(), status("processing", 1), status("generated", 2), completed(3)]
    views = [fold_all(list(order)) for order in itertools.permutations(events)]
    assert all(view == views[0] for view in views)
    assert views[0]["state"] == "completed"


def test_applying_an_event_twice_changes_nothing() -> None:
    once = fold_all([request(), completed()])
    assert fold_all([request(), completed(), completed(), request()]) == once


def test_a_newer_state_of_the_same_rank_wins_an_older_one_does_not() -> None:
    view = fold_all([request(), status("processing", 5)])
    assert fold(view, *status("processing", 2))["updated_at"].endswith("05.000+00:00")
    assert fold(view, *status("processing", 7))["updated_at"].endswith("07.000+00:00")


def test_a_status_without_a_request_still_makes_a_view() -> None:
    view = fold(None, *status("failed", 1))
    assert view["state"] == "failed"
    assert view["error_code"] is None  # the test's status carries none
    assert view["submitted_at"] is None


def test_inputs_are_not_mutated() -> None:
    view = fold_all([request()])
    snapshot = dict(view)
    fold(view, *completed())
    assert view == snapshot


def test_batch_deltas_move_a_request_between_buckets() -> None:
    queued = fold_all([request()])
    assert batch_deltas(None, queued) == [("b1", "queued", 1)]
    done = fold(queued, *completed())
    assert batch_deltas(queued, done) == [("b1", "queued", -1), ("b1", "completed", 1)]
    assert batch_deltas(done, fold(done, *completed())) == []
    assert bucket(fold(None, *status("processing", 1)) | {"batch_id": None}) is None


def test_counts_add_up_over_a_whole_history() -> None:
    counts: dict[str, int] | None = None
    view: dict[str, Any] | None = None
    for event, record in [
        request(),
        status("processing", 1),
        status("generated", 2),
        completed(),
        completed(),
    ]:
        new = fold(view, event, record)
        for _, name, delta in batch_deltas(view, new):
            counts = add_counts(counts, name, delta)
        view = new
    assert summarize("b1", [counts or {}]) == {
        "batch_id": "b1",
        "total": 1,
        "queued": 0,
        "processing": 0,
        "completed": 1,
        "failed": 0,
        "cancelled": 0,
    }


def test_summarize_sums_partition_shares() -> None:
    shares = [add_counts(None, "queued", 2), add_counts(None, "failed", 1)]
    assert summarize("b", shares)["total"] == 3
