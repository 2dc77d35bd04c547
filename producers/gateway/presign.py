"""Presigned GET URLs for stored images, so a browser without S3 credentials can open them."""

from __future__ import annotations

from datetime import timedelta

from minio import Minio

from diffstream.s3 import make_s3_client
from diffstream.settings import Settings
from producers.gateway.exceptions import NotFoundError
from producers.gateway.settings import GatewaySettings


class Presigner:
    """Signs ``s3://bucket/key`` URIs for the endpoint browsers reach; no network call."""

    def __init__(self, settings: Settings, gateway: GatewaySettings) -> None:
        endpoint = gateway.public_s3_endpoint or settings.s3_endpoint
        public = settings.model_copy(update={"s3_endpoint": endpoint.rstrip("/")})
        # The region is set, so signing needs no round trip to the server.
        self._client: Minio = make_s3_client(public)
        self._expiry = timedelta(seconds=gateway.presign_expiry_s)

    def url(self, uri: str) -> str:
        """A fresh presigned GET URL of ``uri``."""
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if not uri.startswith("s3://") or not bucket or not key:
            raise NotFoundError(f"image URI {uri!r} is not s3://bucket/key")
        return str(self._client.presigned_get_object(bucket, key, expires=self._expiry))
