"""Stable default instance ids: ``{host}-{index}`` per role, the same after every restart.

A transactional role's instance id names its ``transactional.id``
(``diffstream-{role}-{host}-{index}``): a restarted worker that comes back under the same id
fences its previous life at once (its open transaction is aborted) instead of leaving
read_committed readers blocked until that transaction times out. The index is the lowest one
that no running instance of the role on this host holds, claimed with a lock file under
``DIFFSTREAM_HOME/instances`` that the kernel releases when the process dies (kill -9 too),
so two workers on one host never share an id and a restarted one takes its index back.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from typing import IO

MAX_INDEX = 1024


class InstanceClaim:
    """An instance id held by this process until ``release`` (or its death)."""

    def __init__(self, instance_id: str, handle: IO[bytes] | None = None) -> None:
        self.instance_id = instance_id
        self._handle = handle

    def release(self) -> None:
        """Give the index back (closing the lock file releases its lock)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def claim_instance_id(role: str, home: Path, configured: str | None = None) -> InstanceClaim:
    """``configured`` when set, else the lowest free ``{host}-{index}`` for ``role``."""
    if configured:
        return InstanceClaim(configured)
    directory = home / "instances"
    directory.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    for index in range(MAX_INDEX):
        handle = (directory / f"{role}-{index}.lock").open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n".encode())
        handle.flush()
        return InstanceClaim(f"{host}-{index}", handle)
    raise RuntimeError(
        f"more than {MAX_INDEX} {role} instances on {host}: set an instance id per worker"
    )
