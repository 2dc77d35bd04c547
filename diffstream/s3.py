"""The S3 client every role shares, built from settings."""

from __future__ import annotations

import logging
import ssl
from datetime import timedelta

import urllib3
from minio import Minio
from minio.error import S3Error

from diffstream.exceptions import DiffstreamError
from diffstream.settings import Settings

log = logging.getLogger(__name__)


# The codes an object store answers wrong or missing credentials with.
CREDENTIAL_CODES = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"})


class StorageError(DiffstreamError):
    """The object store refused or failed a request."""


def describe_s3_error(settings: Settings | None, error: S3Error, what: str) -> str:
    """``what`` failed: the store's code and message, and for refused credentials the
    settings to check and the endpoint they were sent to."""
    text = f"{what}: {error.code}: {error.message}"
    if error.code in CREDENTIAL_CODES:
        where = f" at {settings.s3_endpoint}" if settings is not None else ""
        text += (
            f"; the object store{where} (DIFFSTREAM_S3_ENDPOINT) refused the credentials: "
            "check DIFFSTREAM_S3_ACCESS_KEY and DIFFSTREAM_S3_SECRET_KEY"
        )
    return text


def make_s3_client(settings: Settings, timeout_s: float = 10.0) -> Minio:
    """A MinIO/S3 client for the configured endpoint, credentials and TLS settings."""
    context = ssl.create_default_context(
        cafile=str(settings.s3_ca_file) if settings.s3_ca_file else None
    )
    if not settings.s3_verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
        retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=(502, 503, 504)),
        ssl_context=context if settings.s3_secure else None,
        maxsize=16,
    )
    return Minio(
        settings.s3_host_port,
        access_key=settings.s3_access_key.get_secret_value(),
        secret_key=settings.s3_secret_key.get_secret_value(),
        region=settings.s3_region,
        secure=settings.s3_secure,
        http_client=http,
    )


def ensure_bucket(
    client: Minio, bucket: str, region: str, settings: Settings | None = None
) -> bool:
    """Create ``bucket`` when missing; True when this call created it (``settings`` name the
    endpoint in errors)."""
    try:
        if client.bucket_exists(bucket):
            return False
        client.make_bucket(bucket, location=region)
    except S3Error as exc:
        if exc.code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            return False
        raise StorageError(
            describe_s3_error(settings, exc, f"cannot create bucket {bucket!r}")
        ) from exc
    except urllib3.exceptions.HTTPError as exc:
        raise StorageError(f"cannot reach the object store for bucket {bucket!r}: {exc}") from exc
    log.info("created bucket %s", bucket)
    return True


class Presigner:
    """Signs ``s3://bucket/key`` URIs for the endpoint browsers reach (``public_endpoint``,
    else the configured one); no network call, as the region is set."""

    def __init__(
        self, settings: Settings, expiry_s: int, public_endpoint: str | None = None
    ) -> None:
        endpoint = (public_endpoint or settings.s3_endpoint).rstrip("/")
        self._client = make_s3_client(settings.model_copy(update={"s3_endpoint": endpoint}))
        self.expiry = timedelta(seconds=expiry_s)

    def url(self, uri: str) -> str:
        """A fresh presigned GET URL of ``uri`` (``s3://bucket/key``), valid for ``expiry``."""
        bucket, key = split_uri(uri)
        return str(self._client.presigned_get_object(bucket, key, expires=self.expiry))


def split_uri(uri: str) -> tuple[str, str]:
    """The bucket and key of ``s3://bucket/key``; ValueError naming the URI otherwise."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise ValueError(f"image URI {uri!r} is not s3://bucket/key")
    return bucket, key


def read_object(client: Minio, bucket: str, key: str) -> bytes:
    """The whole object, its connection released to the pool afterwards."""
    response = client.get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()
