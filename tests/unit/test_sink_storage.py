"""Object keys derived from the request, and the offsets the notifier may commit."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

from schemas.builders import new_request
from sinks.offsets import OffsetTracker
from sinks.storage import object_key, object_metadata


def test_key_is_derived_from_the_request_alone() -> None:
    submitted = datetime(2025, 1, 31, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    request = new_request("a cat", submitted_at=submitted, seed=3)
    key = object_key("images", request, 1, "image/png")
    # The date is the UTC one: 23:30 at UTC-2 is the 1st of February.
    assert key == f"images/2025/02/01/{request['request_id']}/1.png"
    assert key == object_key("images/", request, 1, "image/png")
    assert object_key("", request, 0, "image/jpeg").endswith("/0.jpg")
    assert object_key("x", request, 0, "image/webp").startswith("x/2025/02/01/")


def test_metadata_names_the_request() -> None:
    request = new_request("a cat", submitted_at=datetime.now(UTC), model="tiny-sd")
    metadata = object_metadata(request, 42)
    assert metadata == {
        "request-id": str(request["request_id"]),
        "model": "tiny-sd",
        "seed": "42",
        "prompt-sha256": hashlib.sha256(b"a cat").hexdigest(),
    }


def test_offsets_commit_only_a_finished_prefix() -> None:
    tracker = OffsetTracker()
    tp = ("t", 0)
    epochs = [tracker.add(tp, offset) for offset in (5, 6, 7)]
    tracker.done(tp, 6, epochs[1])
    assert tracker.committable() == {}
    assert tracker.in_flight() == 2
    tracker.done(tp, 5, epochs[0])
    assert tracker.committable() == {tp: 7}
    tracker.committed({tp: 7})
    assert tracker.committable() == {}
    tracker.done(tp, 7, epochs[2])
    assert tracker.committable() == {tp: 8}


def test_a_lost_partition_ignores_late_completions() -> None:
    tracker = OffsetTracker()
    tp = ("t", 1)
    epoch = tracker.add(tp, 0)
    tracker.forget(tp)
    tracker.done(tp, 0, epoch)
    assert tracker.committable() == {}
    assert tracker.in_flight() == 0
