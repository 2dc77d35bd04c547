"""A processor's local copy of stored revisions: bounded in bytes, least recently used
first out, each revision pulled once however many threads or processes ask for it.

Layout under the cache directory: ``NAME/REV/`` holds complete revisions only (a pull is
written to ``.staging/`` and renamed into place), ``.locks/`` one lock file per revision
(processes on one host share a cache), and each revision's ``.last-used`` file is touched
whenever it is handed out.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from filelock import FileLock

log = logging.getLogger(__name__)

LAST_USED = ".last-used"
STAGING = ".staging"
LOCKS = ".locks"
#: Writes a complete, checked revision into the (empty) directory it is given.
Pull = Callable[[Path], None]


class CachedRevision(NamedTuple):
    """One revision on disk."""

    name: str
    revision: str
    path: Path
    size_bytes: int
    last_used: float


class ModelCache:
    """Revisions pulled from the store into ``root``, at most ``max_bytes`` of them."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}

    def path(self, name: str, revision: str) -> Path:
        """Where ``name@revision`` lives once pulled."""
        return self.root / name / revision

    def cached(self, name: str, revision: str) -> Path | None:
        """The revision's directory if it is on disk (marked used now), else None."""
        target = self.path(name, revision)
        marker = target / LAST_USED
        if not marker.is_file():
            return None
        try:
            os.utime(marker)
        except FileNotFoundError:  # evicted by another process a moment ago
            return None
        return target

    def get(self, name: str, revision: str, pull: Pull) -> Path:
        """The revision's directory, pulled with ``pull`` first if it is not on disk; a
        revision being pulled by another thread or process is waited for, not pulled again."""
        hit = self.cached(name, revision)
        if hit is not None:
            return hit
        (self.root / LOCKS).mkdir(parents=True, exist_ok=True)
        with self._thread_lock(name, revision), FileLock(self._lock_file(name, revision)):
            hit = self.cached(name, revision)
            if hit is not None:
                return hit
            target = self._pull(name, revision, pull)
        self.evict(keep=target)
        return target

    def entries(self) -> list[CachedRevision]:
        """Every complete revision on disk, least recently used first."""
        found: list[CachedRevision] = []
        for marker in self.root.glob(f"*/*/{LAST_USED}"):
            directory = marker.parent
            try:
                used = marker.stat().st_mtime
            except FileNotFoundError:
                continue
            name, revision = directory.parent.name, directory.name
            found.append(CachedRevision(name, revision, directory, _size(directory), used))
        return sorted(found, key=lambda entry: entry.last_used)

    def size_bytes(self) -> int:
        """Bytes the complete revisions take."""
        return sum(entry.size_bytes for entry in self.entries())

    def evict(self, keep: Path | None = None) -> list[CachedRevision]:
        """Delete least recently used revisions (never ``keep``) until the cache fits in
        ``max_bytes``; the revisions deleted."""
        entries = self.entries()
        total = sum(entry.size_bytes for entry in entries)
        evicted: list[CachedRevision] = []
        for entry in entries:
            if total <= self.max_bytes:
                break
            if entry.path == keep:
                continue
            # The marker first: from then on nobody is handed the directory being deleted.
            (entry.path / LAST_USED).unlink(missing_ok=True)
            shutil.rmtree(entry.path, ignore_errors=True)
            total -= entry.size_bytes
            evicted.append(entry)
            log.info(
                "evicted %s@%s (%d bytes) from the model cache",
                entry.name,
                entry.revision,
                entry.size_bytes,
            )
        if total > self.max_bytes:
            log.warning(
                "the model cache holds %d bytes, over its bound of %d "
                "(DIFFSTREAM_MODELS__CACHE_MAX_BYTES): the revision in use is larger",
                total,
                self.max_bytes,
            )
        return evicted

    def _pull(self, name: str, revision: str, pull: Pull) -> Path:
        staging_root = self.root / STAGING
        staging_root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{name}@{revision}-", dir=staging_root))
        target = self.path(name, revision)
        try:
            started = time.perf_counter()
            pull(staging)
            (staging / LAST_USED).touch()
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():  # a partial copy left by hand, or by an older layout
                shutil.rmtree(target)
            os.rename(staging, target)
            log.info("pulled %s@%s in %.2fs", name, revision, time.perf_counter() - started)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def _thread_lock(self, name: str, revision: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault((name, revision), threading.Lock())

    def _lock_file(self, name: str, revision: str) -> str:
        return str(self.root / LOCKS / f"{name}@{revision}.lock")


def _size(directory: Path) -> int:
    total = 0
    for path in directory.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except FileNotFoundError:
            continue
    return total
