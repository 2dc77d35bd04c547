"""A server process the stack started, remembered in a pid file so that only it is stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

CREATED_TOLERANCE_S = 10.0


class ManagedProcess:
    """One background server, identified by its pid and start time (pids get reused)."""

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
        self.pid_file.write_text(json.dumps({"pid": child.pid, "created": created}))
        return child.pid

    def running_process(self) -> psutil.Process | None:
        """The live process this pid file names, or None (a stale pid file is removed)."""
        try:
            record = json.loads(self.pid_file.read_text())
            process = psutil.Process(record["pid"])
            # psutil derives start times from the boot time, which moves when a VM's clock is
            # stepped: a second was too tight (a live server's pid file was thrown away).
            same = abs(process.create_time() - record["created"]) < CREATED_TOLERANCE_S
            if same and process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                return process
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


def _alive(process: psutil.Process) -> bool:
    try:
        # Reap it if it is our own child; otherwise look at its state.
        process.wait(timeout=0)
        return False
    except psutil.TimeoutExpired:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
