"""The model store in the bucket: ``{prefix}/NAME/REV/manifest.json`` and the files under
``{prefix}/NAME/REV/files/``. The manifest is written last and removed first, so a revision
is listed only while every file of it is there."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, NamedTuple

import pydantic
import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from diffstream.s3 import describe_s3_error, ensure_bucket, make_s3_client
from diffstream.settings import Settings
from processors.exceptions import (
    ModelCorruptError,
    ModelStoreConflictError,
    ModelStoreUnavailableError,
)
from processors.store.manifest import CHUNK, Manifest, ManifestFile, build_manifest

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MISSING_CODES = frozenset({"NoSuchKey", "NoSuchBucket"})
#: Told how many more bytes moved (for progress bars).
OnBytes = Callable[[int], None]


def _ignore(_: int) -> None:
    return None


class PushReport(NamedTuple):
    """What a push did: the manifest, and whether the revision was there already."""

    manifest: Manifest
    uploaded_files: int
    uploaded_bytes: int
    already_stored: bool


class _CountingReader:
    """A file whose reads are reported to ``on_bytes`` (the minio client reads in parts)."""

    def __init__(self, handle: BinaryIO, on_bytes: OnBytes) -> None:
        self._handle = handle
        self._on_bytes = on_bytes

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._on_bytes(len(data))
        return data


class ModelStore:
    """Push, list, read and remove model revisions in ``DIFFSTREAM_S3_BUCKET``."""

    def __init__(self, settings: Settings, client: Minio | None = None) -> None:
        self.settings = settings
        self.bucket = settings.s3_bucket
        self.prefix = settings.models.prefix
        self._client = client or make_s3_client(settings, timeout_s=30.0)

    def key(self, name: str, revision: str, path: str | None = None) -> str:
        """The object key of a revision's manifest, or of one of its files."""
        base = f"{self.prefix}/{name}/{revision}"
        return f"{base}/{MANIFEST}" if path is None else f"{base}/files/{path}"

    def uri(self, name: str, revision: str) -> str:
        """``s3://bucket/prefix/NAME/REV/``, for messages."""
        return f"s3://{self.bucket}/{self.prefix}/{name}/{revision}/"

    # -- reading --------------------------------------------------------------------------

    def manifest(self, name: str, revision: str) -> Manifest | None:
        """The manifest of ``name@revision``; None when the store has no such revision."""
        with self._s3(f"reading the manifest of {name}@{revision}"):
            try:
                response = self._client.get_object(self.bucket, self.key(name, revision))
            except S3Error as exc:
                if exc.code in MISSING_CODES:
                    return None
                raise
            try:
                data = response.read()
            finally:
                response.close()
                response.release_conn()
        try:
            return Manifest.from_json(data)
        except pydantic.ValidationError as exc:
            raise ModelCorruptError(
                f"the manifest {self.key(name, revision)} is malformed ({exc.error_count()} "
                f"errors): push {name} again with --revision {revision} --overwrite"
            ) from exc

    def manifests(self, name: str | None = None) -> list[Manifest]:
        """Every stored revision (of ``name``), sorted by name, newest first within one."""
        prefix = f"{self.prefix}/{name}/" if name else f"{self.prefix}/"
        found: list[Manifest] = []
        with self._s3("listing the model store"):
            if not self._client.bucket_exists(self.bucket):
                return []
            for item in self._client.list_objects(self.bucket, prefix=prefix, recursive=True):
                parts = (item.object_name or "").split("/")
                if len(parts) == 4 and parts[3] == MANIFEST:
                    manifest = self.manifest(parts[1], parts[2])
                    if manifest is not None:
                        found.append(manifest)
        found.sort(key=lambda m: m.created_at, reverse=True)
        found.sort(key=lambda m: m.name)
        return found

    def download(self, manifest: Manifest, directory: Path, on_bytes: OnBytes = _ignore) -> None:
        """Every file of ``manifest`` into ``directory``, each checked against its sha256
        and size; ModelCorruptError (naming the file) at the first that does not match."""
        for entry in manifest.files:
            target = directory / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            self._download_file(manifest, entry, target, on_bytes)

    def _download_file(
        self, manifest: Manifest, entry: ManifestFile, target: Path, on_bytes: OnBytes
    ) -> None:
        key = self.key(manifest.name, manifest.revision, entry.path)
        digest, size = hashlib.sha256(), 0
        with self._s3(f"downloading {key}"):
            try:
                response = self._client.get_object(self.bucket, key)
            except S3Error as exc:
                if exc.code in MISSING_CODES:
                    raise ModelCorruptError(
                        f"{manifest.name}@{manifest.revision}: {entry.path} is missing from "
                        f"{self.uri(manifest.name, manifest.revision)}: push it again with "
                        "--overwrite"
                    ) from exc
                raise
            try:
                with target.open("wb") as handle:
                    for chunk in response.stream(CHUNK):
                        digest.update(chunk)
                        handle.write(chunk)
                        size += len(chunk)
                        on_bytes(len(chunk))
            finally:
                response.close()
                response.release_conn()
        if digest.hexdigest() != entry.sha256 or size != entry.size:
            raise ModelCorruptError(
                f"{manifest.name}@{manifest.revision}: {entry.path} in the store has sha256 "
                f"{digest.hexdigest()[:16]}... ({size} bytes), its manifest says "
                f"{entry.sha256[:16]}... ({entry.size} bytes): the object is corrupt and was "
                f"not loaded; push the model again with --revision {manifest.revision} "
                "--overwrite"
            )

    # -- writing --------------------------------------------------------------------------

    def push(
        self,
        directory: Path,
        name: str,
        revision: str | None = None,
        *,
        overwrite: bool = False,
        on_bytes: OnBytes = _ignore,
        manifest: Manifest | None = None,
    ) -> PushReport:
        """Upload ``directory`` as ``name@revision`` (default: its content hash). Pushing the
        same files again changes nothing; other files under a taken revision are refused."""
        manifest = manifest or build_manifest(directory, name, revision)
        existing = self.manifest(name, manifest.revision)
        if existing is not None and not overwrite:
            if existing.same_content(manifest):
                return PushReport(existing, 0, 0, already_stored=True)
            raise ModelStoreConflictError(
                f"--revision {manifest.revision} of {name} already holds other files (pushed "
                f"{existing.created_at:%Y-%m-%d %H:%M} from {existing.source}): leave "
                "--revision out (the content hash) or name a new one"
            )
        with self._s3(f"pushing {name}@{manifest.revision}"):
            ensure_bucket(self._client, self.bucket, self.settings.s3_region, self.settings)
            for entry in manifest.files:
                path = directory / entry.path
                with path.open("rb") as handle:
                    self._client.put_object(
                        self.bucket,
                        self.key(name, manifest.revision, entry.path),
                        _CountingReader(handle, on_bytes),  # type: ignore[arg-type]
                        entry.size,
                        metadata={"x-amz-meta-sha256": entry.sha256},
                    )
            data = manifest.to_json()
            self._client.put_object(
                self.bucket,
                self.key(name, manifest.revision),
                io.BytesIO(data),
                len(data),
                content_type="application/json",
            )
        log.info("pushed %s@%s (%d files)", name, manifest.revision, len(manifest.files))
        return PushReport(manifest, len(manifest.files), manifest.total_bytes, False)

    def remove(self, name: str, revision: str) -> int:
        """Delete a revision (the manifest first); the number of objects deleted."""
        prefix = f"{self.prefix}/{name}/{revision}/"
        with self._s3(f"removing {name}@{revision}"):
            self._client.remove_object(self.bucket, self.key(name, revision))
            keys = [
                item.object_name
                for item in self._client.list_objects(self.bucket, prefix=prefix, recursive=True)
                if item.object_name
            ]
            errors = list(self._client.remove_objects(self.bucket, [DeleteObject(k) for k in keys]))
        if errors:
            raise ModelStoreUnavailableError(
                f"{len(errors)} objects of {name}@{revision} were not deleted "
                f"({errors[0].message}): run `diffstream models rm` again"
            )
        return len(keys) + 1

    def _s3(self, what: str) -> AbstractContextManager[None]:
        return store_errors(self.settings, what)


@contextmanager
def store_errors(settings: Settings, what: str) -> Iterator[None]:
    """S3 and network errors as ModelStoreUnavailableError naming what failed."""
    try:
        yield
    except S3Error as exc:
        raise ModelStoreUnavailableError(describe_s3_error(settings, exc, what)) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ModelStoreUnavailableError(
            f"{what}: the object store at {settings.s3_endpoint} "
            f"(DIFFSTREAM_S3_ENDPOINT) did not answer: {exc}"
        ) from exc
