"""The manifest of one stored revision: every file with its size and sha256, the pipeline
class, when and from where it was pushed. Its file hashes define the default revision."""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_VERSION = 1
# Short content hashes are revisions: 12 hex digits (48 bits) tell apart any realistic
# number of revisions of one model.
REVISION_CHARS = 12
CHUNK = 1024 * 1024
# Written by the engine or by tools, never part of a model.
SKIPPED = frozenset({".DS_Store"})


class ManifestFile(BaseModel):
    """One file of a model directory."""

    model_config = ConfigDict(frozen=True)

    path: str  # relative, "/"-separated
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Manifest(BaseModel):
    """What ``models/NAME/REV/manifest.json`` holds."""

    model_config = ConfigDict(frozen=True)

    manifest_version: int = MANIFEST_VERSION
    name: str
    revision: str
    pipeline_class: str
    created_at: datetime
    source: str
    files: tuple[ManifestFile, ...]

    @property
    def total_bytes(self) -> int:
        """The sum of the files' sizes."""
        return sum(f.size for f in self.files)

    def to_json(self) -> bytes:
        """The manifest as pretty JSON bytes."""
        return self.model_dump_json(indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """A manifest read back (``pydantic.ValidationError`` when malformed)."""
        return cls.model_validate_json(data)

    def same_content(self, other: Manifest) -> bool:
        """Whether both list the same files with the same hashes."""
        return content_hash(self.files) == content_hash(other.files)


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def content_hash(files: tuple[ManifestFile, ...]) -> str:
    """The short hash of the files' paths and hashes: the default revision."""
    lines = sorted(f"{f.path} {f.sha256}" for f in files)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:REVISION_CHARS]


def model_files(directory: Path) -> Iterator[Path]:
    """Every file of a model directory, sorted, hidden files and folders left out."""
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        hidden = any(part.startswith(".") for part in relative.parts)
        if path.is_file() and path.name not in SKIPPED and not hidden:
            yield path


def pipeline_class(directory: Path) -> str:
    """The ``_class_name`` of ``model_index.json``; ValueError naming the fix otherwise."""
    index = directory / "model_index.json"
    if not index.is_file():
        raise ValueError(
            f"{directory} has no model_index.json: push a diffusers pipeline directory "
            "(what `save_pretrained` writes)"
        )
    try:
        name = json.loads(index.read_text(encoding="utf-8")).get("_class_name")
    except (json.JSONDecodeError, AttributeError) as exc:
        raise ValueError(f"{index} is not a JSON object: {exc}") from exc
    if not isinstance(name, str) or not name:
        raise ValueError(f"{index} names no _class_name: it is not a diffusers pipeline")
    return name


def build_manifest(directory: Path, name: str, revision: str | None = None) -> Manifest:
    """The manifest of ``directory`` as model ``name``; ``revision`` defaults to its
    content hash, so the same files always get the same revision."""
    klass = pipeline_class(directory)
    files = tuple(
        ManifestFile(
            path=path.relative_to(directory).as_posix(),
            size=path.stat().st_size,
            sha256=sha256_of(path),
        )
        for path in model_files(directory)
    )
    return Manifest(
        name=name,
        revision=revision or content_hash(files),
        pipeline_class=klass,
        created_at=datetime.now(UTC),
        source=f"{socket.gethostname()}:{directory.resolve()}",
        files=files,
    )
