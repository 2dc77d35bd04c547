"""Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

from sinks.exceptions import WebhookConfigurationError


class WebhookSigner:
    """Signs bodies with the notifier's secret (``whsec_`` + base64, as the spec shows)."""

    def __init__(self, secret: SecretStr | None) -> None:
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

    def headers(self, msg_id: str, body: bytes, now: datetime | None = None) -> dict[str, str]:
        """The three signature headers of one attempt (the timestamp is the attempt's)."""
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        signature = self._webhook.sign(msg_id=msg_id, timestamp=moment, data=body.decode())
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": signature,
        }
