"""Browser-openable URLs of stored images, for completed events and their webhooks."""

from __future__ import annotations

from datetime import datetime

from diffstream.s3 import Presigner
from diffstream.settings import Settings


class ImageUrls:
    """The gateway's image URL when a public gateway URL is configured (it presigns on each
    visit, so it does not expire), else a presigned GET URL and its expiry time."""

    def __init__(self, settings: Settings) -> None:
        config = settings.sink
        self._gateway = config.public_gateway_url.rstrip("/") if config.public_gateway_url else None
        self._presigner = (
            None
            if self._gateway
            else Presigner(settings, config.presign_expiry_s, config.public_s3_endpoint)
        )

    def url(
        self, request_id: object, index: int, uri: str, now: datetime
    ) -> tuple[str, datetime | None]:
        """The URL of image ``index`` of ``request_id`` stored at ``uri``, and its expiry."""
        if self._presigner is None:
            return f"{self._gateway}/v1/generations/{request_id}/images/{index}", None
        return self._presigner.url(uri), now + self._presigner.expiry
