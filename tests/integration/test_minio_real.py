"""The object store is real: PUT, GET, stat with metadata and delete against MinIO."""

from __future__ import annotations

import hashlib
import io
import uuid

import pytest
from minio.error import S3Error

from diffstream.s3 import ensure_bucket, make_s3_client
from diffstream.settings import Settings

pytestmark = pytest.mark.integration


def test_put_get_stat_delete(settings: Settings) -> None:
    client = make_s3_client(settings)
    key = f"tests/{uuid.uuid4()}.bin"
    body = bytes(range(256)) * 64
    digest = hashlib.sha256(body).hexdigest()
    client.put_object(
        settings.s3_bucket,
        key,
        io.BytesIO(body),
        len(body),
        content_type="application/octet-stream",
        metadata={"sha256": digest, "request-id": "r-1"},
    )

    response = client.get_object(settings.s3_bucket, key)
    try:
        assert response.read() == body
    finally:
        response.close()
        response.release_conn()

    stat = client.stat_object(settings.s3_bucket, key)
    assert stat.size == len(body)
    assert stat.content_type == "application/octet-stream"
    assert stat.metadata is not None
    assert stat.metadata["x-amz-meta-sha256"] == digest
    assert stat.metadata["x-amz-meta-request-id"] == "r-1"

    client.remove_object(settings.s3_bucket, key)
    with pytest.raises(S3Error) as missing:
        client.stat_object(settings.s3_bucket, key)
    assert missing.value.code == "NoSuchKey"


def test_wrong_credentials_are_refused(settings: Settings) -> None:
    wrong = settings.model_copy(update={"s3_secret_key": settings.s3_access_key})
    with pytest.raises(S3Error) as refused:
        make_s3_client(wrong).bucket_exists(settings.s3_bucket)
    assert refused.value.code in ("AccessDenied", "SignatureDoesNotMatch")


def test_ensure_bucket_is_idempotent(settings: Settings) -> None:
    client = make_s3_client(settings)
    bucket = f"idem-{uuid.uuid4().hex[:8]}"
    assert ensure_bucket(client, bucket, settings.s3_region) is True
    assert ensure_bucket(client, bucket, settings.s3_region) is False
    client.remove_bucket(bucket)
