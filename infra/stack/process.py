"""A server process the stack started, remembered in a pid file so that only it is stopped.

A pid file names the process by its pid and its command line: a pid can be reused, and the
start time psutil reports moves when the clock is stepped (it is derived from the boot
time).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil

from infra.stack.exceptions import StartupError

log = logging.getLogger(__name__)

# Only for pid files written before the command line was kept.
CREATED_TOLERANCE_S = 10.0


class ManagedProcess:
    """One background server, identified by its pid and command line (pids get reused)."""

    def __init__(self, name: str, state_dir: Path) -> None:
        self.name = name
        self.pid_file = state_dir / f"{name}.pid"
        self.log_file = state_dir / f"{name}.out"

    def start(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> int:
        """Start the server detached from this process group, logging to ``log_file``."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            child = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env={**os.environ, **env},
                start_new_session=True,
            )
        created = psutil.Process(child.pid).create_time()
        record = {"pid": child.pid, "created": created, "argv": list(argv)}
        self.pid_file.write_text(json.dumps(record))
        return child.pid

    def running_process(self) -> psutil.Process | None:
        """The live process this pid file names, or None (a stale pid file is removed)."""
        try:
            record = json.loads(self.pid_file.read_text())
            process = psutil.Process(record["pid"])
            if process.status() != psutil.STATUS_ZOMBIE:
                if _started_as(process, record):
                    return process
                log.warning(
                    "%s: pid %d is another process now (%s)",
                    self.pid_file,
                    process.pid,
                    " ".join(_command_line(process)),
                )
        except (FileNotFoundError, ValueError, KeyError, psutil.Error):
            pass
        self.pid_file.unlink(missing_ok=True)
        return None

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the server printed."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no output)"

    def wait_until(
        self,
        ready: Callable[[], bool],
        timeout_s: float,
        *,
        label: str,
        interval_s: float,
        see: str = "",
    ) -> bool:
        """Poll ``ready`` until it holds (True) or ``timeout_s`` passes (False); a server that
        exits meanwhile raises ``StartupError`` with the end of its output (and ``see``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.running_process() is None:
                raise StartupError(
                    f"{label} exited during start-up; its output ({self.log_file}):\n"
                    f"{self.log_tail()}" + (f"\n{see}" if see else "")
                )
            if ready():
                return True
            time.sleep(interval_s)
        return False

    def stop(self, timeout_s: float = 30.0) -> bool:
        """SIGTERM the server's process group, SIGKILL after ``timeout_s``; False if not running."""
        process = self.running_process()
        if process is None:
            return False
        group = os.getpgid(process.pid)
        os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _alive(process):
            time.sleep(0.1)
        if _alive(process):
            os.killpg(group, signal.SIGKILL)
            process.wait(timeout=10)
        self.pid_file.unlink(missing_ok=True)
        return True


def _started_as(process: psutil.Process, record: dict[str, object]) -> bool:
    """Whether ``process`` is the one the pid file ``record`` was written for: the same
    command line (the start time for a pid file from before the command line was kept)."""
    if "argv" in record:
        return bool(_command_line(process) == record["argv"])
    created = record["created"]
    return isinstance(created, float) and abs(process.create_time() - created) < CREATED_TOLERANCE_S


def _command_line(process: psutil.Process) -> list[str]:
    """The process's command line; one still inside exec reads empty for a moment."""
    deadline = time.monotonic() + 1.0
    while not (command_line := process.cmdline()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return command_line


def _alive(process: psutil.Process) -> bool:
    try:
        # Reap it if it is our own child; otherwise look at its state.
        process.wait(timeout=0)
        return False
    except psutil.TimeoutExpired:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
