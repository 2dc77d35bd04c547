"""Which events call their callback: a callback that failed validation is never called."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.builders import invalid_request_failed, new_request
from schemas.codec import Codec
from schemas.events import EventName
from schemas.examples import example
from schemas.validation import validate_request
from sinks.delivery import Delivery
from sinks.notify import Uncallable, plan_delivery

NOW = datetime.now(UTC)
GOOD = "https://hooks.example.com/h"


def _failed_for(**fields: Any) -> dict[str, Any]:
    """The failed event a processor writes for a request with ``fields``, through the codec."""
    request = new_request("a cat", submitted_at=NOW - timedelta(seconds=1))
    request.update(fields)
    failed = invalid_request_failed(request, validate_request(request))
    codec = Codec.without_registry()
    return codec.decode(codec.encode(EventName.FAILED, failed)).value


def test_a_valid_callback_of_an_invalid_request_hears_about_its_failure() -> None:
    record = _failed_for(prompt="bad\x00prompt", callback={"url": GOOD, "events": ["failed"]})
    assert record["field_errors"][0]["field"] == "prompt"
    planned = plan_delivery(EventName.FAILED, record)
    assert isinstance(planned, Delivery)
    assert planned.url == GOOD
    assert b"U+0000" in planned.body


def test_a_callback_that_failed_validation_is_never_called() -> None:
    bad = "https://alice:s3cret@hooks.example.com/h?token=t0ken"
    record = _failed_for(callback={"url": bad, "events": ["failed"]})
    assert record["field_errors"][0]["field"] == "callback.url"
    assert record["context"]["callback"] is None, "the public event does not repeat it"
    assert "s3cret" not in str(record)
    assert plan_delivery(EventName.FAILED, record) is None
    # An event of an older processor still carries it: the flagged field is enough.
    record["context"]["callback"] = {"url": bad, "events": ["failed"]}
    planned = plan_delivery(EventName.FAILED, record)
    assert isinstance(planned, Uncallable)
    assert "callback.url" in planned.reason
    assert planned.shown_url == "https://hooks.example.com/h?<redacted>"
    assert "s3cret" not in planned.reason


def test_flagged_callback_fields_are_enough_even_if_the_url_looks_fine() -> None:
    record = example(EventName.FAILED)
    record["field_errors"] = [{"field": "callback.events", "message": "callback.events=[] ..."}]
    planned = plan_delivery(EventName.FAILED, record)
    assert isinstance(planned, Uncallable)
    assert "callback.events" in planned.reason


def test_an_event_of_an_older_writer_is_judged_again() -> None:
    record = example(EventName.COMPLETED)
    record["context"]["callback"] = {
        "url": "http://u:p@hooks.example.com/",
        "events": ["completed"],
    }
    planned = plan_delivery(EventName.COMPLETED, record)
    assert isinstance(planned, Uncallable)
    assert "carries credentials" in planned.reason
    assert "u:p" not in planned.reason


def test_events_without_a_callback_for_them_plan_nothing() -> None:
    record = example(EventName.COMPLETED)
    record["context"]["callback"] = {"url": GOOD, "events": ["failed"]}
    assert plan_delivery(EventName.COMPLETED, record) is None
    record["context"]["callback"] = None
    assert plan_delivery(EventName.COMPLETED, record) is None
    record["context"] = None
    assert plan_delivery(EventName.COMPLETED, record) is None
