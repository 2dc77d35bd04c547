"""A server the bench starts as a process tree of its own, and kills with SIGKILL."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

_LOG_TAIL_CHARS = 1500


class ServerProcess:
    """``command`` in a session of its own, its output in ``log``; ``stop`` kills the whole
    tree (Ray's raylet and workers, BentoML's and LitServe's workers) with SIGKILL."""

    def __init__(
        self, command: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path
    ) -> None:
        self.command = list(command)
        self.env = {**os.environ, **env}
        self.log = log
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the command (its output appended to the log)."""
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        """The started process's pid."""
        if self.popen is None:
            raise RuntimeError("the server was not started")
        return self.popen.pid

    def alive(self) -> bool:
        """Whether the started process still runs."""
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        """SIGKILL to the process and everything it started; idempotent."""
        if self.popen is None:
            return
        kill_tree(self.popen.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)
        self.popen = None

    def log_tail(self) -> str:
        """The end of the server's output, for error messages."""
        if not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")[-_LOG_TAIL_CHARS:]


def kill_tree(pid: int) -> None:
    """SIGKILL to ``pid`` and all its descendants (children first listed, then killed)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(processes, timeout=10)
