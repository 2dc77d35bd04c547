"""Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

from sinks.exceptions import WebhookConfigurationError


class WebhookSigner:
    """Signs bodies with the notifier's secret (``whsec_`` + base64, as the spec shows), or
    with a tenant's own secret where ``secret_for(tenant)`` knows one, so that no receiver
    can forge another tenant's webhooks."""

    def __init__(
        self,
        secret: SecretStr | None,
        secret_for: Callable[[str | None], str | None] | None = None,
    ) -> None:
        self._secret_for = secret_for
        self._tenants: dict[str, Webhook] = {}
        if secret is None or not secret.get_secret_value():
            raise WebhookConfigurationError(
                "DIFFSTREAM_WEBHOOKS__SIGNING_SECRET is not set; receivers need it to verify "
                "webhooks (e.g. whsec_ followed by 24+ random bytes in base64)"
            )
        try:
            self._webhook = Webhook(secret.get_secret_value())
        except Exception as exc:  # the library raises binascii.Error or its own class
            raise WebhookConfigurationError(
                f"DIFFSTREAM_WEBHOOKS__SIGNING_SECRET is not valid base64: {type(exc).__name__}"
            ) from None

    def headers(
        self,
        msg_id: str,
        body: bytes,
        now: datetime | None = None,
        *,
        tenant: str | None = None,
    ) -> dict[str, str]:
        """The three signature headers of one attempt (the timestamp is the attempt's)."""
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        webhook = self._for(tenant)
        signature = webhook.sign(msg_id=msg_id, timestamp=moment, data=body.decode())
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": signature,
        }

    def _for(self, tenant: str | None) -> Webhook:
        """The tenant's own signer when its secret is known, else the notifier's."""
        secret = self._secret_for(tenant) if self._secret_for and tenant else None
        if secret is None:
            return self._webhook
        webhook = self._tenants.get(secret)
        if webhook is None:
            try:
                webhook = self._tenants[secret] = Webhook(secret)
            except Exception:  # a malformed stored secret: never fall back silently
                raise WebhookConfigurationError(
                    f"the webhook secret of tenant {tenant!r} is not valid base64: "
                    "create a new key for it with `diffstream keys create`"
                ) from None
        return webhook
