"""Every version of every event schema on disk, indexed by event name and by fingerprint.

Layout: ``schemas/avro/<RecordName>/v<N>.avsc``. Versions are never edited once released
(``schemas/avro/SHA256SUMS`` pins them); the highest N is the reader schema.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import SchemaParseException, fingerprint, to_parsing_canonical_form

from schemas.exceptions import SchemaLoadError

logger = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).parent / "avro"
_VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.avsc$")


@dataclass(frozen=True, eq=False)
class SchemaVersion:
    """One ``.avsc`` file: its raw JSON, its fastavro parse and its single-object fingerprint."""

    event: str
    version: int
    path: Path
    raw: dict[str, Any]
    parsed: Any
    canonical: str
    fingerprint: bytes

    @property
    def fullname(self) -> str:
        """The record's Avro full name."""
        namespace = self.raw.get("namespace")
        return f"{namespace}.{self.event}" if namespace else self.event

    @property
    def schema_str(self) -> str:
        """The schema as compact JSON, for libraries that want a string."""
        return json.dumps(self.raw, separators=(",", ":"))


def _load_version(path: Path, event: str, version: int) -> SchemaVersion:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        parsed = parse_schema(raw)
        canonical = to_parsing_canonical_form(parsed)
    except (OSError, ValueError, TypeError, KeyError, SchemaParseException) as exc:
        raise SchemaLoadError(f"{path}: not a valid Avro schema: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("type") != "record" or raw.get("name") != event:
        raise SchemaLoadError(f"{path}: must hold a record named {event!r} (its folder's name)")
    # fastavro's hex digest is already the spec's little-endian byte order.
    digest = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    return SchemaVersion(event, version, path, raw, parsed, canonical, digest)


class Catalog:
    """The schemas of one directory; look up by event name or by fingerprint."""

    def __init__(self, versions: list[SchemaVersion]) -> None:
        self._by_event: dict[str, tuple[SchemaVersion, ...]] = {}
        for item in sorted(versions, key=lambda v: (v.event, v.version)):
            self._by_event[item.event] = (*self._by_event.get(item.event, ()), item)
        # Two versions may share a fingerprint (e.g. only a default changed): the wire
        # bytes are then identical, so the newest one decodes them just as well.
        self._by_fingerprint = {item.fingerprint: item for item in self}

    def __iter__(self) -> Iterator[SchemaVersion]:
        for versions in self._by_event.values():
            yield from versions

    @property
    def events(self) -> tuple[str, ...]:
        """The event names, sorted."""
        return tuple(self._by_event)

    def versions(self, event: str) -> tuple[SchemaVersion, ...]:
        """Every version of an event, oldest first."""
        try:
            return self._by_event[event]
        except KeyError:
            raise SchemaLoadError(f"no schema for event {event!r}") from None

    def latest(self, event: str) -> SchemaVersion:
        """The newest version of an event: the writer and reader schema of this build."""
        return self.versions(event)[-1]

    def by_fingerprint(self, digest: bytes) -> SchemaVersion | None:
        """The version with this CRC-64-AVRO fingerprint (8 bytes, little-endian), if known."""
        return self._by_fingerprint.get(digest)


def load_catalog(directory: Path | None = None) -> Catalog:
    """Read every ``<Event>/v<N>.avsc`` under ``directory`` (default: the packaged schemas)."""
    if directory is None:
        return _default_catalog()
    return _scan(directory)


@cache
def _default_catalog() -> Catalog:
    return _scan(SCHEMA_DIR)


def _scan(directory: Path) -> Catalog:
    if not directory.is_dir():
        raise SchemaLoadError(f"schema directory {directory} does not exist")
    versions: list[SchemaVersion] = []
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
        numbers: list[int] = []
        for path in sorted(folder.glob("*.avsc")):
            match = _VERSION_FILE.match(path.name)
            if match is None:
                raise SchemaLoadError(f"{path}: schema files must be named v<N>.avsc")
            numbers.append(int(match.group(1)))
            versions.append(_load_version(path, folder.name, numbers[-1]))
        if sorted(numbers) != list(range(1, len(numbers) + 1)):
            raise SchemaLoadError(f"{folder}: versions must run v1..vN without gaps, got {numbers}")
        names = {v.fullname for v in versions if v.event == folder.name}
        if len(names) > 1:
            raise SchemaLoadError(f"{folder}: versions disagree on the full name: {sorted(names)}")
    logger.debug("loaded %d schema versions from %s", len(versions), directory)
    return Catalog(versions)
