"""Presigned GET URLs for stored images, so a browser without S3 credentials can open them."""

from __future__ import annotations

from diffstream import s3
from diffstream.settings import Settings
from producers.gateway.exceptions import NotFoundError
from producers.gateway.settings import GatewaySettings


class Presigner:
    """The core presigner with the gateway's expiry and public endpoint; a URI that is not
    ``s3://bucket/key`` is a 404."""

    def __init__(self, settings: Settings, gateway: GatewaySettings) -> None:
        self._signer = s3.Presigner(settings, gateway.presign_expiry_s, gateway.public_s3_endpoint)

    def url(self, uri: str) -> str:
        """A fresh presigned GET URL of ``uri``."""
        try:
            return self._signer.url(uri)
        except ValueError as exc:
            raise NotFoundError(str(exc)) from exc
