"""The gateway's pure parts: limits, bodies, the view's fold, per-tenant webhook signing."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from diffstream.request_limits import RequestLimits
from diffstream.settings import Settings
from producers.gateway.bodies import InvalidBody, build_request, comparable, idempotent_id
from producers.gateway.exceptions import LimitExceededError
from producers.gateway.limits import TenantLimiter
from producers.gateway.settings import GatewaySettings
from producers.gateway.view import GenerationView
from schemas.builders import now_millis
from schemas.codec import Codec
from schemas.events import EventName
from schemas.tenants import TenantDirectory, TenantKey, hash_key, new_api_key, new_tenant_key
from sinks.signing import WebhookSigner
from sinks.storage import object_key

SECRET = "whsec_" + base64.b64encode(b"the notifier's global secret!!").decode()
ACME = "whsec_" + base64.b64encode(b"acme's very own webhook secret").decode()


def _key(**limits: Any) -> TenantKey:
    values = {"rate_per_s": 2.0, "images_per_min": 60, "max_in_flight": 5} | limits
    return new_tenant_key("acme", new_api_key(), webhook_secret=ACME, **values)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_bucket_refuses_a_burst_and_refills() -> None:
    clock = _Clock()
    limiter = TenantLimiter(clock)
    key = _key()
    limiter.admit(key, requests=1, images=1, in_flight=0)
    limiter.admit(key, requests=1, images=1, in_flight=0)
    with pytest.raises(LimitExceededError) as refused:
        limiter.admit(key, requests=1, images=1, in_flight=0)
    assert refused.value.limit == "rate_per_s"
    assert refused.value.headers["Retry-After"] == "1"
    clock.now += 0.5
    limiter.admit(key, requests=1, images=1, in_flight=0)


def test_images_per_minute_and_in_flight_are_limits_too() -> None:
    clock = _Clock()
    limiter = TenantLimiter(clock)
    key = _key(rate_per_s=100.0, images_per_min=10)
    limiter.admit(key, requests=1, images=8, in_flight=0)
    with pytest.raises(LimitExceededError) as refused:
        limiter.admit(key, requests=1, images=8, in_flight=0)
    assert refused.value.limit == "images_per_min"
    assert int(refused.value.headers["Retry-After"]) >= 36
    with pytest.raises(LimitExceededError) as busy:
        limiter.admit(key, requests=1, images=1, in_flight=5)
    assert busy.value.limit == "max_in_flight"


def test_a_body_reports_every_problem_at_once() -> None:
    fields = {"prompt": "7", "model": "digits", "steps": 0, "width": 1, "colour": "red"}
    fields |= {"tenant": "evil"}
    with pytest.raises(InvalidBody) as invalid:
        build_request(
            fields, request_id=idempotent_id("acme", "x"), tenant="acme", limits=RequestLimits()
        )
    named = {e.field for e in invalid.value.errors}
    assert {"steps", "width", "colour", "tenant"} <= named


def test_the_gateway_sets_the_tenant_and_ids_are_per_tenant() -> None:
    request_id = idempotent_id("acme", "order-1")
    assert request_id == idempotent_id("acme", "order-1")
    assert request_id != idempotent_id("globex", "order-1")
    record = build_request(
        {"prompt": "a 7", "model": "digits", "guidance_scale": 5},
        request_id=request_id,
        tenant="acme",
        limits=RequestLimits(),
    )
    assert record["tenant"] == "acme"
    assert str(record["request_id"]) == request_id
    again = {**record, "guidance_scale": 5.0, "submitted_at": now_millis()}
    assert comparable(again) == comparable(record)
    assert comparable({**record, "steps": 3}) != comparable(record)


def _view() -> GenerationView:
    return GenerationView(Settings(), GatewaySettings(), Codec.without_registry())


def test_the_view_moves_forward_only_and_counts_in_flight() -> None:
    view = _view()
    record = build_request(
        {"prompt": "7", "model": "digits"},
        request_id=idempotent_id("acme", "a"),
        tenant="acme",
        limits=RequestLimits(),
    )
    request_id = str(record["request_id"])
    completed = {
        "request_id": request_id,
        "completed_at": datetime.now(UTC),
        "model": "digits",
        "images": [{"index": 0, "uri": "s3://b/k.png", "content_type": "image/png"}],
        "timings": {"inference_s": 0.1},
        "context": {"tenant": "acme"},
    }
    progress = {"request_id": request_id, "step": 3, "steps": 10, "updated_at": now_millis()}

    async def apply() -> None:
        view.apply_batch([(EventName.COMPLETED, completed, None)])
        view.apply_batch([(EventName.REQUEST, record, None), (EventName.PROGRESS, progress, None)])

    asyncio.run(apply())
    item = view.get(request_id, "acme")
    assert item is not None
    assert item.state == "completed"  # a late request or progress event does not undo it
    assert [name for name, _, _ in item.events] == ["completed"]
    assert view.in_flight("acme") == 0
    assert view.get(request_id, "globex") is None


def test_a_tenants_webhooks_are_signed_with_its_own_secret() -> None:
    directory = TenantDirectory(Settings(), Codec.without_registry())
    directory.apply(
        new_tenant_key(
            "acme",
            new_api_key(),
            rate_per_s=1,
            images_per_min=1,
            max_in_flight=1,
            webhook_secret=ACME,
        )
    )
    signer = WebhookSigner(SecretStr(SECRET), directory.secret_for)
    body = b'{"type":"generation.completed"}'
    mine = signer.headers("msg_1", body, tenant="acme")
    Webhook(ACME).verify(body, mine)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, mine)
    # Requests without a (known) tenant keep the notifier's secret.
    Webhook(SECRET).verify(body, signer.headers("msg_2", body, tenant="nobody"))
    Webhook(SECRET).verify(body, signer.headers("msg_3", body))


def test_keys_are_only_hashed_and_revoked_keys_do_not_authenticate() -> None:
    directory = TenantDirectory(Settings(), Codec.without_registry())
    key = new_api_key()
    record = new_tenant_key(
        "acme", key, rate_per_s=1, images_per_min=1, max_in_flight=1, webhook_secret=ACME
    )
    assert key not in str(record)
    assert record["key_hash"] == hash_key(key)
    directory.apply(record)
    found = directory.authenticate(key)
    assert found is not None
    assert found["tenant"] == "acme"
    assert directory.authenticate(key + "x") is None
    directory.apply({**record, "revoked": True})
    assert directory.authenticate(key) is None


def test_object_keys_hold_the_tenant() -> None:
    request = {"submitted_at": datetime(2025, 2, 1, tzinfo=UTC), "request_id": "r1"}
    assert object_key("images", request, 0, "image/png") == "images/2025/02/01/r1/0.png"
    theirs = object_key("images", {**request, "tenant": "a/b"}, 0, "image/png")
    assert theirs == "images/tenants/a%2Fb/2025/02/01/r1/0.png"


def test_the_view_keeps_at_most_its_limit_and_forgets_the_oldest() -> None:
    view = GenerationView(
        Settings(), GatewaySettings(view_max_requests=3), Codec.without_registry()
    )

    async def fill() -> list[str]:
        ids = []
        for n in range(5):
            record = build_request(
                {"prompt": "7", "model": "digits"},
                request_id=idempotent_id("acme", str(n)),
                tenant="acme",
                limits=RequestLimits(),
            )
            ids.append(view.note_request(record).request_id)
        return ids

    ids = asyncio.run(fill())
    assert [item.request_id for item in view.recent("acme")] == ids[:1:-1]
    assert view.find(ids[0]) is None
    assert view.in_flight("acme") == 3
