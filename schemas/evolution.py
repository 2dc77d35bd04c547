"""Checks that keep the contract evolvable: every old writer reads with the newest reader,
and released ``.avsc`` files stay byte-for-byte what they were.

Run by the unit tests; also handy from a shell: ``python -m schemas.evolution``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import sys
from pathlib import Path

from fastavro import schemaless_reader, schemaless_writer
from fastavro.utils import generate_many

from schemas.catalog import SCHEMA_DIR, Catalog, SchemaVersion, load_catalog

logger = logging.getLogger(__name__)

CHECKSUMS = "SHA256SUMS"


def resolution_problems(catalog: Catalog, samples: int = 50) -> list[str]:
    """Random records of every version, written with it and read with the newest version
    of the same event; one line per version that fails. Random samples visit every union
    branch and enum symbol, which is where incompatible changes show up."""
    problems: list[str] = []
    for event in catalog.events:
        reader = catalog.latest(event)
        for writer in catalog.versions(event):
            problem = _resolve(writer, reader, samples)
            if problem:
                problems.append(problem)
    return problems


def _resolve(writer: SchemaVersion, reader: SchemaVersion, samples: int) -> str | None:
    for record in generate_many(writer.parsed, samples):
        buffer = io.BytesIO()
        try:
            schemaless_writer(buffer, writer.parsed, record)
            buffer.seek(0)
            schemaless_reader(buffer, writer.parsed, reader.parsed)
        except Exception as exc:  # any failure is the finding; report it, don't crash
            return f"{writer.event} v{writer.version} -> v{reader.version}: {exc}"
    return None


def checksum_problems(directory: Path = SCHEMA_DIR) -> list[str]:
    """Released versions whose bytes changed, and versions missing from ``SHA256SUMS``."""
    listed: dict[str, str] = {}
    sums = directory / CHECKSUMS
    if sums.exists():
        for line in sums.read_text(encoding="utf-8").splitlines():
            if line.strip():
                digest, _, name = line.partition("  ")
                listed[name.strip()] = digest.strip()
    problems: list[str] = []
    for path in sorted(directory.glob("*/v*.avsc")):
        name = path.relative_to(directory).as_posix()
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        expected = listed.pop(name, None)
        if expected is None:
            problems.append(f"{name}: not in {CHECKSUMS}; add: {actual}  {name}")
        elif expected != actual:
            problems.append(f"{name}: edited after release; add a new version file instead")
    problems += [f"{name}: listed in {CHECKSUMS} but deleted" for name in sorted(listed)]
    return problems


def main() -> int:
    """Print every problem; exit status 1 if there is any."""
    problems = checksum_problems() + resolution_problems(load_catalog())
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
