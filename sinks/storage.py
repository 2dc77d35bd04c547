"""Images into the object store: deterministic keys, metadata, and errors sorted by what to do.

A key depends only on the request (its submission date, id and the image index), so a
retried or replayed result overwrites the same object instead of adding a second copy.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import quote

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error

from diffstream.s3 import StorageError, ensure_bucket, make_s3_client
from diffstream.settings import Settings
from sinks.exceptions import BucketMissingError, StorageAccessDeniedError, StorageUnavailableError

log = logging.getLogger(__name__)

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
# Server-side conditions that pass: retried like an unreachable server.
RETRYABLE_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "XMinioServerNotInitialized",
    }
)
DENIED_CODES = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"})


class StoredObject(NamedTuple):
    """Where an image went and what was stored."""

    uri: str
    key: str
    sha256: str
    size_bytes: int
    seconds: float


def object_key(prefix: str, request: Mapping[str, Any], index: int, content_type: str) -> str:
    """``{prefix}/{yyyy}/{mm}/{dd}/{request_id}/{index}.{ext}``, dated by submitted_at (UTC);
    a tenant's under ``{prefix}/tenants/{tenant}/...``, so no tenant writes over another's."""
    submitted: datetime = request["submitted_at"]
    day = submitted.astimezone(UTC) if submitted.tzinfo else submitted
    ext = EXTENSIONS.get(content_type, "bin")
    path = f"{day:%Y/%m/%d}/{request['request_id']}/{index}.{ext}"
    tenant = request.get("tenant")
    if tenant:
        path = f"tenants/{quote(str(tenant), safe='')}/{path}"
    return f"{prefix.strip('/')}/{path}" if prefix.strip("/") else path


def object_metadata(request: Mapping[str, Any], seed: int) -> dict[str, str]:
    """User metadata (x-amz-meta-*): who asked for the image and how to find its request."""
    prompt = str(request.get("prompt", ""))
    return {
        "request-id": str(request["request_id"]),
        "model": _ascii(str(request.get("model", ""))),
        "seed": str(seed),
        "prompt-sha256": hashlib.sha256(prompt.encode()).hexdigest(),
    }


class ImageStore:
    """PUTs images into the configured bucket; raises the sinks' storage errors."""

    def __init__(self, settings: Settings, client: Minio | None = None) -> None:
        self.bucket = settings.s3_bucket
        self.region = settings.s3_region
        self.create_bucket = settings.sink.create_bucket
        self.client = client or make_s3_client(settings)
        self._bucket_checked = threading.Lock()

    def check_bucket(self) -> None:
        """Create the bucket when missing (if allowed), else fail naming the setting."""
        try:
            if self.create_bucket:
                ensure_bucket(self.client, self.bucket, self.region)
                return
            exists = self.client.bucket_exists(self.bucket)
        except StorageError as exc:
            cause = exc.__cause__
            if isinstance(cause, S3Error):
                raise self._classify(cause, f"bucket {self.bucket!r}") from exc
            raise StorageUnavailableError(str(exc)) from exc
        except S3Error as exc:
            raise self._classify(exc, f"bucket {self.bucket!r}") from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise StorageUnavailableError(f"object store unreachable: {exc}") from exc
        if not exists:
            raise BucketMissingError(
                f"bucket {self.bucket!r} does not exist; create it (`diffstream bucket create`) "
                "or set DIFFSTREAM_SINK__CREATE_BUCKET=true"
            )

    def put(
        self, key: str, data: bytes, content_type: str, metadata: dict[str, str]
    ) -> StoredObject:
        """Store ``data`` under ``key`` (overwriting: PUTs are idempotent here)."""
        started = time.perf_counter()
        try:
            self.client.put_object(
                self.bucket,
                key,
                io.BytesIO(data),
                len(data),
                content_type=content_type,
                metadata=metadata,  # type: ignore[arg-type]
            )
        except S3Error as exc:
            if exc.code == "NoSuchBucket" and self.create_bucket:
                # Deleted under us: make it again, then let the batch be retried.
                with self._bucket_checked:
                    self.check_bucket()
                raise StorageUnavailableError(
                    f"bucket {self.bucket!r} was missing; recreated"
                ) from exc
            raise self._classify(exc, f"s3://{self.bucket}/{key}") from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise StorageUnavailableError(f"object store unreachable: {exc}") from exc
        return StoredObject(
            uri=f"s3://{self.bucket}/{key}",
            key=key,
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
            seconds=time.perf_counter() - started,
        )

    def _classify(self, error: S3Error, what: str) -> Exception:
        if error.code in DENIED_CODES:
            return StorageAccessDeniedError(
                f"{what}: {error.code}: {error.message}; check DIFFSTREAM_S3_ACCESS_KEY / "
                "DIFFSTREAM_S3_SECRET_KEY and the bucket policy"
            )
        if error.code == "NoSuchBucket":
            return BucketMissingError(
                f"{what}: bucket {self.bucket!r} does not exist; create it "
                "(`diffstream bucket create`) or set DIFFSTREAM_SINK__CREATE_BUCKET=true"
            )
        if error.code not in RETRYABLE_CODES:
            log.error("%s: unexpected %s: %s (retrying)", what, error.code, error.message)
        # Anything else may pass (or be fixed by an operator): retry rather than lose it.
        return StorageUnavailableError(f"{what}: {error.code}: {error.message}")


def _ascii(text: str) -> str:
    # HTTP headers carry metadata: keep it ASCII without losing what it said.
    return text.encode("ascii", "backslashreplace").decode("ascii")
