"""Send a GenerationCancel: the processors fail a cancelled request without GPU time (a
cancel that arrives after its inference began is too late)."""

from __future__ import annotations

from diffstream.settings import Settings
from producers.client.delivery import send_event
from schemas.codec import Codec
from schemas.events import EventName
from schemas.signals import new_cancel
from schemas.topics import CANCELLATIONS


def send_cancel(
    settings: Settings, request_id: str, *, reason: str | None = None, tenant: str | None = None
) -> None:
    """Publish a cancel of ``request_id`` on the compacted cancellations topic (keyed by the
    request id) and return once the brokers acknowledged it."""
    codec = Codec(settings)
    record = new_cancel(request_id, reason=reason, tenant=tenant)
    topic = settings.topic(CANCELLATIONS)
    send_event(settings, codec, topic, EventName.CANCEL, record, key=request_id.encode())
