"""The results manifest of a backfill: one JSON line per input line, stored in S3/MinIO."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import urllib3
from minio.error import S3Error

from diffstream.s3 import (
    StorageError,
    describe_s3_error,
    ensure_bucket,
    make_s3_client,
    read_object,
)
from diffstream.settings import Settings

logger = logging.getLogger(__name__)


def manifest_key(batch_id: str) -> str:
    """The object key of a batch's manifest."""
    return f"backfills/{batch_id}/manifest.jsonl"


def write_manifest(settings: Settings, batch_id: str, rows: Iterable[Mapping[str, Any]]) -> str:
    """Store the manifest (overwriting an earlier run's); its ``s3://bucket/key`` URI."""
    body = "".join(json.dumps(dict(row), default=str, sort_keys=True) + "\n" for row in rows)
    data = body.encode("utf-8")
    key = manifest_key(batch_id)
    client = make_s3_client(settings)
    try:
        ensure_bucket(client, settings.s3_bucket, settings.s3_region, settings)
        client.put_object(
            settings.s3_bucket,
            key,
            io.BytesIO(data),
            len(data),
            content_type="application/x-ndjson",
        )
    except S3Error as exc:
        raise StorageError(
            describe_s3_error(settings, exc, f"cannot store the manifest {key}")
        ) from exc
    except urllib3.exceptions.HTTPError as exc:
        raise StorageError(
            f"cannot store the manifest {key}: the object store at {settings.s3_endpoint} "
            f"(DIFFSTREAM_S3_ENDPOINT) is unreachable: {exc}"
        ) from exc
    uri = f"s3://{settings.s3_bucket}/{key}"
    logger.info("manifest written to %s", uri)
    return uri


def read_manifest(settings: Settings, batch_id: str) -> list[dict[str, Any]]:
    """A stored manifest's rows (for reports and tests)."""
    client = make_s3_client(settings)
    body = read_object(client, settings.s3_bucket, manifest_key(batch_id))
    return [json.loads(line) for line in body.decode("utf-8").splitlines()]
