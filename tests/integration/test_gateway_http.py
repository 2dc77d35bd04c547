"""The HTTP gateway over real HTTP, against the real stack with every role running."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytest.importorskip("sklearn", reason="the digits model needs the inference extra")

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from typer.testing import CliRunner

from diffstream.settings import Settings
from infra.together import run_every_role
from processors.engine.digits.reading import read_digit
from producers.cli import app as producers_app
from producers.gateway.keys import CreatedKey, create_key, revoke_key
from schemas.tenants import hash_key
from schemas.topics import REQUESTS
from tests.integration.gateway_support import (
    SEVEN,
    auth,
    fetch_image,
    live_key,
    running_gateway,
    sse_events,
    wait_state,
)
from tests.integration.isolation import SECRET, cli_env, isolate
from tests.integration.producing import read_all
from tests.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def isolated(settings: Settings) -> Settings:
    # Progress events on every step, so the SSE stream shows them.
    return isolate(settings, processor={"progress_interval_ms": 1})


@pytest.fixture(scope="module")
def base(isolated: Settings) -> Iterator[str]:
    stop = threading.Event()
    roles = threading.Thread(target=run_every_role, args=(isolated, stop), daemon=True)
    roles.start()
    try:
        with running_gateway(isolated) as url:
            yield url
    finally:
        stop.set()
        roles.join(60)


@pytest.fixture(scope="module")
def acme(isolated: Settings) -> CreatedKey:
    return create_key(isolated, "acme", rate_per_s=200.0, images_per_min=6000, max_in_flight=500)


@pytest.fixture(scope="module")
def key(acme: CreatedKey) -> str:
    return acme.key


@pytest.fixture
def client(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=30) as session:
        yield session


def test_a_digit_from_submit_to_png(client: httpx.Client, acme: CreatedKey) -> None:
    key = acme.key
    with receiving(Receiver()) as hooks:
        body = {**SEVEN, "callback": {"url": hooks.url, "events": ["completed"]}}
        answer = client.post("/v1/generations", json=body, headers=auth(key))
        assert answer.status_code == 202, answer.text
        created = answer.json()
        events = sse_events(client, created["events_url"], auth(key))
        deadline = time.monotonic() + 30
        while not hooks.received and time.monotonic() < deadline:
            time.sleep(0.1)
    # The webhook is signed with this tenant's own secret, not the notifier's global one.
    (hook,) = hooks.received
    headers = {k: v for k, v in hook.headers.items() if k.startswith("webhook-")}
    Webhook(acme.webhook_secret).verify(hook.body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(hook.body, headers)
    assert json.loads(hook.body)["data"]["request_id"] == created["id"]
    assert created["status"] == "queued"
    assert created["events_url"].endswith(f"/v1/generations/{created['id']}/events")
    names = [e["event"] for e in events]
    assert names[0] == "status"
    assert "progress" in names, names
    assert names[-1] == "completed", names
    # Ids order the stream the same way on every instance: (state, attempt, step).
    orders = [tuple(int(part) for part in e["id"].split(".")) for e in events]
    assert orders == sorted(set(orders))

    done = client.get(created["status_url"], headers=auth(key)).json()
    assert done["status"] == "completed"
    assert done["timings"]["inference_s"] > 0
    image_url = done["images"][0]["url"]
    redirect = client.get(image_url, headers=auth(key))
    assert redirect.status_code == 302
    # The object key holds the tenant: no tenant can write over another's images.
    assert "/tenants/acme/" in redirect.headers["location"]
    image = fetch_image(redirect.headers["location"])
    assert image.format == "PNG"
    assert read_digit(image) == 7

    # Resuming gets only what came after, and the stream still ends.
    after_second = auth(key) | {"Last-Event-ID": events[1]["id"]}
    resumed = sse_events(client, created["events_url"], after_second)
    # (The terminal event's presigned URLs are fresh on every read: compare ids and names.)
    assert [(e["id"], e["event"]) for e in resumed] == [(e["id"], e["event"]) for e in events[2:]]
    last = events[-1]["id"]
    assert sse_events(client, created["events_url"], auth(key) | {"Last-Event-ID": last}) == []


def test_prefer_wait_answers_with_the_outcome_and_a_bad_wait_names_the_limit(
    client: httpx.Client, key: str
) -> None:
    waited = client.post("/v1/generations", json=SEVEN, headers=auth(key) | {"Prefer": "wait=30"})
    assert waited.status_code == 200, waited.text
    assert waited.headers["preference-applied"] == "wait=30"
    done = waited.json()
    assert done["status"] == "completed", done
    assert read_digit(fetch_image(done["images"][0]["download_url"])) == 7
    # Too short a wait for the model: 202 as without it, and the request still completes.
    quick = client.post("/v1/generations", json=SEVEN, headers=auth(key) | {"Prefer": "wait=0"})
    assert quick.status_code == 202, quick.text
    assert "preference-applied" not in quick.headers
    finished = wait_state(client, quick.json()["status_url"], key, {"completed", "failed"})
    assert finished["status"] == "completed"
    for prefer in ("wait=soon", "wait=61", "respond-async, wait=-1"):
        refused = client.post("/v1/generations", json=SEVEN, headers=auth(key) | {"Prefer": prefer})
        assert refused.status_code == 422, (prefer, refused.text)
        (error,) = refused.json()["errors"]
        assert error["field"] == "Prefer", error
        assert error["limit"] == "60.0", error
        assert "DIFFSTREAM_GATEWAY__MAX_WAIT_S" in error["message"], error


def test_a_repeated_idempotency_key_publishes_once(
    client: httpx.Client, key: str, isolated: Settings
) -> None:
    headers = auth(key) | {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    first = client.post("/v1/generations", json=SEVEN, headers=headers)
    second = client.post("/v1/generations", json=SEVEN, headers=headers)
    assert first.status_code == second.status_code == 202
    request_id = first.json()["id"]
    assert second.json()["id"] == request_id
    published = [
        m for m in read_all(isolated, REQUESTS, expected=1) if m.key() == request_id.encode()
    ]
    assert len(published) == 1


def test_put_is_idempotent_and_refuses_another_body(client: httpx.Client, key: str) -> None:
    request_id = str(uuid.uuid4())
    url = f"/v1/generations/{request_id}"
    first = client.put(url, json=SEVEN, headers=auth(key))
    assert first.status_code == 202, first.text
    assert first.json()["id"] == request_id
    again = client.put(url, json=SEVEN, headers=auth(key))
    assert again.status_code == 200
    assert again.json()["id"] == request_id
    other = client.put(url, json={**SEVEN, "prompt": "eight"}, headers=auth(key))
    assert other.status_code == 409
    assert other.json()["errors"][0]["field"] == "id"
    not_uuid = client.put("/v1/generations/not-a-uuid", json=SEVEN, headers=auth(key))
    assert not_uuid.status_code == 422
    assert not_uuid.json()["errors"][0]["field"] == "id"


def test_another_tenants_request_is_not_found(
    client: httpx.Client, key: str, isolated: Settings
) -> None:
    created = client.post("/v1/generations", json=SEVEN, headers=auth(key)).json()
    stranger = live_key(client, isolated, "globex")
    request_id = created["id"]
    unknown = str(uuid.uuid4())
    for path in ("", "/events", "/images/0"):
        theirs = client.get(f"/v1/generations/{request_id}{path}", headers=auth(stranger))
        nobodys = client.get(f"/v1/generations/{unknown}{path}", headers=auth(stranger))
        assert theirs.status_code == nobodys.status_code == 404
        assert theirs.json()["errors"][0]["field"] == "id"
    cancel = client.post(f"/v1/generations/{request_id}/cancel", headers=auth(stranger))
    assert cancel.status_code == 404
    listed = client.get("/v1/generations", headers=auth(stranger)).json()
    assert request_id not in [g["id"] for g in listed["data"]]
    # The owner still sees it, in its own list.
    mine = client.get("/v1/generations", params={"limit": 200}, headers=auth(key)).json()
    assert request_id in [g["id"] for g in mine["data"]]


def test_no_key_or_a_revoked_key_is_unauthorized(client: httpx.Client, isolated: Settings) -> None:
    assert client.get("/v1/models").status_code == 401
    wrong = client.get("/v1/models", headers=auth("ds_not-a-key"))
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    assert wrong.json()["errors"][0]["field"] == "Authorization"
    doomed = live_key(client, isolated, "initech")
    revoke_key(isolated, hash_key(doomed))
    deadline = time.monotonic() + 10
    while client.get("/v1/models", headers=auth(doomed)).status_code != 401:
        assert time.monotonic() < deadline, "the revoked key still works after 10 s"
        time.sleep(0.2)
    refused = client.post("/v1/generations", json=SEVEN, headers=auth(doomed))
    assert refused.status_code == 401


def test_a_burst_past_the_rate_gets_429_with_retry_after(
    client: httpx.Client, isolated: Settings
) -> None:
    slow = live_key(client, isolated, "hooli", rate_per_s=2.0)
    answers = [
        client.post("/v1/generations", json={**SEVEN, "lane": "batch"}, headers=auth(slow))
        for _ in range(8)
    ]
    codes = [a.status_code for a in answers]
    assert codes.count(202) >= 2
    limited = [a for a in answers if a.status_code == 429]
    assert len(limited) >= 4, codes
    assert int(limited[0].headers["retry-after"]) >= 1
    error = limited[0].json()["errors"][0]
    assert error["field"] == "rate_per_s"
    assert "rate_per_s=2" in error["message"]


BAD_BODIES: list[tuple[Any, str]] = [
    ({}, "prompt"),
    ({"prompt": 7}, "prompt"),
    ({"prompt": "x" * 2001}, "prompt"),
    ({**SEVEN, "width": 63}, "width"),
    ({**SEVEN, "width": 100}, "width"),
    ({**SEVEN, "height": 5000}, "height"),
    ({**SEVEN, "height": "tall"}, "height"),
    ({**SEVEN, "steps": 0}, "steps"),
    ({**SEVEN, "steps": 1000}, "steps"),
    ({**SEVEN, "guidance_scale": -1}, "guidance_scale"),
    ({**SEVEN, "guidance_scale": "lots"}, "guidance_scale"),
    ({**SEVEN, "num_images": 0}, "num_images"),
    ({**SEVEN, "num_images": 99}, "num_images"),
    ({**SEVEN, "seed": -5}, "seed"),
    ({**SEVEN, "scheduler": "warp-drive"}, "scheduler"),
    ({**SEVEN, "output_format": "gif"}, "output_format"),
    ({**SEVEN, "lane": "express"}, "lane"),
    ({**SEVEN, "priority": 99}, "priority"),
    ({**SEVEN, "deadline": "yesterday"}, "deadline"),
    ({**SEVEN, "deadline": "2001-01-01T00:00:00Z"}, "deadline"),
    ({**SEVEN, "callback": {"url": "ftp://example.com/x"}}, "callback"),
    ({**SEVEN, "labels": {"k": 5}}, "labels"),
    ({**SEVEN, "model": "../etc/passwd"}, "model"),
    ({**SEVEN, "prompt": "a red fox"}, "prompt"),
    ({**SEVEN, "colour": "blue"}, "colour"),
    ({**SEVEN, "tenant": "evil"}, "tenant"),
    ({**SEVEN, "request_id": str(uuid.uuid4())}, "request_id"),
    ({**SEVEN, "batch_id": "mine"}, "batch_id"),
    ([SEVEN], "body"),
    ("a handwritten 7", "body"),
]


def test_bad_bodies_each_name_the_field_and_a_good_one_still_completes(
    client: httpx.Client, key: str
) -> None:
    for body, field in BAD_BODIES:
        answer = client.post("/v1/generations", json=body, headers=auth(key))
        assert answer.status_code == 422, (body, answer.text)
        fields = [e["field"] for e in answer.json()["errors"]]
        assert any(f.startswith(field) for f in fields), (body, fields)
    transport: list[tuple[dict[str, Any], int]] = [
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400),
        ({"content": b"prompt=7", "headers": {"content-type": "text/plain"}}, 415),
        ({"content": b"{}"}, 415),
        ({"json": {**SEVEN, "negative_prompt": "x" * 70_000}}, 413),
    ]
    for arguments, status in transport:
        headers = auth(key) | arguments.pop("headers", {})
        answer = client.post("/v1/generations", headers=headers, **arguments)
        assert answer.status_code == status, (arguments, answer.text)
        assert answer.json()["errors"][0]["field"] in ("body", "content-type")
    # Every error at once, not one per round trip.
    several = client.post(
        "/v1/generations", json={**SEVEN, "steps": 0, "width": 1, "x": 1}, headers=auth(key)
    )
    assert {"steps", "width", "x"} <= {e["field"] for e in several.json()["errors"]}
    good = client.post("/v1/generations", json=SEVEN, headers=auth(key))
    assert good.status_code == 202
    done = wait_state(client, good.json()["status_url"], key, {"completed", "failed"})
    assert done["status"] == "completed"


def test_models_list_filters_and_batches(client: httpx.Client, key: str) -> None:
    models = client.get("/v1/models", headers=auth(key)).json()
    assert "digits" in [m["id"] for m in models["data"]]
    marker = uuid.uuid4().hex[:8]
    lines = "\n".join(
        f'{{"prompt": "{digit}", "model": "digits", "steps": 4, "labels": {{"run": "{marker}"}}}}'
        for digit in ("one", "two", "three")
    )
    batch = client.post(
        "/v1/batches",
        content=(lines + "\n{not json}\n").encode(),
        headers=auth(key) | {"content-type": "application/x-ndjson"},
    )
    assert batch.status_code == 202, batch.text
    created = batch.json()
    assert created["accepted"] == 3
    assert [e["line"] for e in created["invalid"]] == [4]
    deadline = time.monotonic() + 120
    while True:
        counts = client.get(created["status_url"], headers=auth(key)).json()
        if counts["counts"]["completed"] == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert counts["total"] == 3
    assert counts["counts"]["completed"] == 3
    page = client.get(
        "/v1/generations", params={"label": f"run={marker}", "limit": 2}, headers=auth(key)
    ).json()
    assert len(page["data"]) == 2
    assert {g["labels"]["run"] for g in page["data"]} == {marker}
    rest = client.get(
        "/v1/generations",
        params={"label": f"run={marker}", "limit": 2, "cursor": page["next_cursor"]},
        headers=auth(key),
    ).json()
    assert len(rest["data"]) == 1
    assert rest["next_cursor"] is None
    assert client.get("/v1/batches/nope", headers=auth(key)).status_code == 404


def test_openapi_health_and_metrics(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    assert "/v1/generations/{request_id}/events" in document["paths"]
    assert client.get("/docs").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["ready"] is True
    assert "diffstream_gateway_responses" in client.get("/metrics").text


def test_keys_commands_create_list_and_revoke(client: httpx.Client, isolated: Settings) -> None:
    env = cli_env(isolated)
    runner = CliRunner()
    made = runner.invoke(
        producers_app, ["keys", "create", "--tenant", "umbrella", "--rate", "3", "--json"], env=env
    )
    assert made.exit_code == 0, made.output
    shown = json.loads(made.stdout.strip().splitlines()[-1])
    assert set(shown) == {"tenant", "key", "webhook_secret"}
    assert shown["tenant"] == "umbrella"
    assert shown["webhook_secret"].startswith("whsec_")
    deadline = time.monotonic() + 10
    while client.get("/v1/models", headers=auth(shown["key"])).status_code != 200:
        assert time.monotonic() < deadline, "a key made by `keys create` was not accepted"
        time.sleep(0.1)
    listed = runner.invoke(producers_app, ["keys", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "umbrella" in listed.output
    assert shown["key"] not in listed.output  # only a prefix is ever shown again
    revoked = runner.invoke(producers_app, ["keys", "revoke", shown["key"][:11]], env=env)
    assert revoked.exit_code == 0, revoked.output
    while client.get("/v1/models", headers=auth(shown["key"])).status_code != 401:
        assert time.monotonic() < deadline + 10, "a key revoked by `keys revoke` still works"
        time.sleep(0.1)


def test_a_second_instance_serves_the_same_requests(
    client: httpx.Client, key: str, isolated: Settings
) -> None:
    # Stateless: another gateway on the same topics knows what the first one accepted.
    with running_gateway(isolated) as other, httpx.Client(base_url=other, timeout=30) as peer:
        created = client.post("/v1/generations", json=SEVEN, headers=auth(key)).json()
        url = f"/v1/generations/{created['id']}"
        deadline = time.monotonic() + 10
        while peer.get(url, headers=auth(key)).status_code != 200:
            assert time.monotonic() < deadline, "the second instance never saw the request"
            time.sleep(0.05)
        events = sse_events(peer, f"{other}{url}/events", auth(key))
        assert events[-1]["event"] == "completed"
        # The same ids on both instances: a stream resumes on either.
        ours = sse_events(client, f"{url}/events", auth(key))
        assert [e["id"] for e in ours] == [e["id"] for e in events]
        assert peer.get(f"{url}/images/0", headers=auth(key)).status_code == 302
        assert created["id"] in [
            g["id"] for g in peer.get("/v1/generations", headers=auth(key)).json()["data"]
        ]
