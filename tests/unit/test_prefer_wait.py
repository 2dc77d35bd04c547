"""``Prefer: wait=N`` parsing (RFC 7240): which waits are taken, which refused and how."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the gateway extra")

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from producers.gateway.app import ResponseMetrics
from producers.gateway.bodies import InvalidBody
from producers.gateway.metrics import GatewayMetrics
from producers.gateway.prefer import hold, requested_wait_s


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("respond-async", None),
        ("wait=30", 30.0),
        ("WAIT = 2.5", 2.5),
        ('wait="10"', 10.0),
        ("respond-async, wait=0", 0.0),
        ("return=minimal; foo=bar, wait=60", 60.0),
    ],
)
def test_the_wait_asked_for(header: str | None, seconds: float | None) -> None:
    assert requested_wait_s(header, 60.0) == seconds


@pytest.mark.parametrize("header", ["wait=", "wait=soon", "wait=-1", "wait=60.5", "wait=nan"])
def test_a_bad_wait_names_the_header_the_limit_and_the_setting(header: str) -> None:
    with pytest.raises(InvalidBody) as refused:
        requested_wait_s(header, 60.0)
    (error,) = refused.value.errors
    assert error.field == "Prefer"
    assert error.limit == 60.0
    assert "from 0 to 60" in error.message
    assert "DIFFSTREAM_GATEWAY__MAX_WAIT_S" in error.message


def test_a_submit_held_for_its_outcome_is_counted_but_not_timed() -> None:
    async def submit(request: Request) -> PlainTextResponse:
        if request.query_params.get("held"):
            hold(request)
        return PlainTextResponse("ok")

    registry = CollectorRegistry()
    app = Starlette(routes=[Route("/submit", submit)])
    app.add_middleware(ResponseMetrics, metrics=GatewayMetrics.create(registry))
    client = TestClient(app)
    # A Prefer header alone does not stop the timing: only a submit that really waited.
    prefer = {"Prefer": "wait=5"}
    assert client.get("/submit", headers=prefer).status_code == 200
    assert client.get("/submit?held=1", headers=prefer).status_code == 200
    labels = {"route": "/submit"}
    assert registry.get_sample_value("diffstream_gateway_request_seconds_count", labels) == 1
    responses = registry.get_sample_value(
        "diffstream_gateway_responses_total", labels | {"status": "200"}
    )
    assert responses == 2
