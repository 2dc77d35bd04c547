"""Every role as a real OS process, and a supervisor that starts again what dies.

A scenario kills a role with SIGKILL (a planned kill: the supervisor starts it again at
once, as Kubernetes would) or stops it with SIGTERM (it stays stopped). A role that exits
on its own is an unplanned exit: it is started again too, so that the run can finish and
be counted, and the exit is reported, because a role that had to be restarted did not
survive the fault by itself.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

SUPERVISE_INTERVAL_S = 0.2
# An unplanned exit is restarted after this pause, as a crash-looping pod backs off.
RESTART_DELAY_S = 1.0
STOP_TIMEOUT_S = 30.0
# What every role prints once it has joined its group (see the roles' run loops).
READY_MARK = "consuming"


@dataclass(frozen=True, slots=True)
class RoleSpec:
    """One role instance: its name in the suite, its `diffstream` command, its own variables."""

    name: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


def processor(index: int, **env: str) -> RoleSpec:
    """`diffstream process` with the stable instance id ``processor-<index>``."""
    instance = f"processor-{index}"
    return RoleSpec(instance, ("process",), {"DIFFSTREAM_PROCESSOR__INSTANCE_ID": instance, **env})


def image_sink(index: int = 1) -> RoleSpec:
    """`diffstream sink images` with the stable instance id ``image-sink-<index>``."""
    instance = f"image-sink-{index}"
    return RoleSpec(instance, ("sink", "images"), {"DIFFSTREAM_SINK__INSTANCE_ID": instance})


def notifier(index: int = 1) -> RoleSpec:
    """`diffstream sink notify`."""
    return RoleSpec(f"notifier-{index}", ("sink", "notify"))


@dataclass(frozen=True, slots=True)
class RoleExit:
    """A role process that exited without being told to."""

    role: str
    returncode: int
    at: float
    log_file: Path
    last_lines: str


class RoleProcess:
    """One role's process, started again in place after each death; one log file per life."""

    def __init__(self, spec: RoleSpec, env: Mapping[str, str], log_dir: Path) -> None:
        self.spec = spec
        self.name = spec.name
        self._env = {**env, **spec.env}
        self._log_dir = log_dir
        self.lives = 0
        self.wanted = False  # whether the supervisor keeps it running
        self.planned_death = False  # killed or stopped by the scenario, not by itself
        self.popen: subprocess.Popen[bytes] | None = None
        self.log_file = log_dir / f"{spec.name}.0.log"
        self.started_at = 0.0
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        """Start a new life of the role."""
        self.lives += 1
        self.log_file = self._log_dir / f"{self.name}.{self.lives}.log"
        if self._log is not None:
            self._log.close()
        self._log = self.log_file.open("wb")
        argv = [sys.executable, "-m", "diffstream_cli", *self.spec.command]
        self.popen = subprocess.Popen(
            argv,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C meant for the suite reaches the roles only through it.
            start_new_session=True,
        )
        self.wanted, self.planned_death = True, False
        self.started_at = time.monotonic()
        log.info("started %s (pid %d, life %d)", self.name, self.popen.pid, self.lives)

    def returncode(self) -> int | None:
        """The exit status once the process has exited, else None."""
        return None if self.popen is None else self.popen.poll()

    def is_alive(self) -> bool:
        """Whether the current life still runs."""
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: the role gets no chance to finish, abort or leave its group."""
        self.planned_death = True
        if self.popen is not None and self.is_alive():
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(30)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM and wait (SIGKILL after ``timeout_s``); it stays stopped."""
        self.wanted, self.planned_death = False, True
        if self.popen is None or not self.is_alive():
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.abort_with_stacks(f"ignored SIGTERM for {timeout_s:.0f}s")

    def abort_with_stacks(self, why: str) -> None:
        """SIGABRT a role that hangs: with PYTHONFAULTHANDLER set, its log then ends with
        every thread's stack, which says where it hung; SIGKILL if even that does not end it."""
        if self.popen is None or not self.is_alive():
            return
        log.warning("%s %s: aborting it (its stacks go to %s)", self.name, why, self.log_file)
        self.popen.send_signal(signal.SIGABRT)
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(30)

    def is_ready(self) -> bool:
        """Whether this life has said it is consuming."""
        try:
            return READY_MARK in self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return False

    def last_lines(self, lines: int = 15) -> str:
        """The end of this life's log."""
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def close_log(self) -> None:
        """Close the log file of the last life."""
        if self._log is not None:
            self._log.close()
            self._log = None


class Fleet:
    """The role processes of one scenario, under a supervisor thread."""

    def __init__(self, env: Mapping[str, str], log_dir: Path, *, instance_prefix: str = "") -> None:
        # The scenario's settings only: nothing of the caller's own DIFFSTREAM_* leaks in.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("DIFFSTREAM_")}
        # Wide log lines: rich wraps at 80 columns when it writes to a file.
        # PYTHONFAULTHANDLER: a role aborted because it hung prints every thread's stack.
        self._env = {**inherited, "COLUMNS": "240", "PYTHONFAULTHANDLER": "1", **env}
        self._log_dir = log_dir
        # Instance ids (hence transactional ids) of the scenario's own: a role of one
        # scenario must not fence, or be blocked by, the same role of an earlier one.
        self._instance_prefix = instance_prefix
        log_dir.mkdir(parents=True, exist_ok=True)
        self.roles: dict[str, RoleProcess] = {}
        self.exits: list[RoleExit] = []
        # Roles that did not stop on SIGTERM when the scenario ended (a hang, not a crash).
        self.hung: list[str] = []
        self.kills = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, name="supervisor", daemon=True)
        self._supervisor.start()

    def start(self, spec: RoleSpec) -> RoleProcess:
        """Start a role (again, if it was stopped)."""
        with self._lock:
            own = {
                key: f"{self._instance_prefix}{value}" if key.endswith("__INSTANCE_ID") else value
                for key, value in spec.env.items()
            }
            spec = RoleSpec(spec.name, spec.command, own)
            role = self.roles.get(spec.name) or RoleProcess(spec, self._env, self._log_dir)
            self.roles[spec.name] = role
            role.start()
            return role

    def start_all(self, specs: Sequence[RoleSpec], ready_timeout_s: float = 120.0) -> None:
        """Start several roles and wait until each is consuming."""
        for spec in specs:
            self.start(spec)
        self.wait_ready([spec.name for spec in specs], ready_timeout_s)

    def wait_ready(self, names: Sequence[str], timeout_s: float = 120.0) -> bool:
        """Wait until every named role is consuming; False (and a warning) at the timeout."""
        deadline = time.monotonic() + timeout_s
        waiting = list(names)
        while waiting and time.monotonic() < deadline:
            waiting = [name for name in waiting if not self.roles[name].is_ready()]
            time.sleep(0.2)
        if waiting:
            log.warning("not consuming after %.0fs: %s", timeout_s, ", ".join(waiting))
        return not waiting

    def kill(self, name: str) -> None:
        """SIGKILL a role; the supervisor starts it again at once."""
        with self._lock:
            self.roles[name].kill()
            self.kills += 1
        log.info("killed %s with SIGKILL", name)

    def kill_and_wait_back(self, name: str, timeout_s: float = 120.0) -> bool:
        """SIGKILL a role, then wait until its next life is consuming."""
        life = self.roles[name].lives
        self.kill(name)
        deadline = time.monotonic() + timeout_s
        role = self.roles[name]
        while time.monotonic() < deadline:
            if role.lives > life and role.is_ready():
                return True
            time.sleep(0.2)
        log.warning("%s was not consuming again %.0fs after the kill", name, timeout_s)
        return False

    def stop(self, name: str) -> None:
        """SIGTERM a role and leave it stopped."""
        self.roles[name].stop()

    def close(self) -> None:
        """Stop every role (SIGTERM, then SIGKILL) and the supervisor."""
        self._closed.set()
        self._supervisor.join(5)
        for role in self.roles.values():
            role.wanted = False
            if role.is_alive() and role.popen is not None:
                role.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for role in self.roles.values():
            if role.popen is None:
                continue
            try:
                role.popen.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                role.planned_death = True
                role.abort_with_stacks(f"ignored SIGTERM for {STOP_TIMEOUT_S:.0f}s")
                self.hung.append(f"{role.name} (stacks at the end of {role.log_file})")
            role.close_log()

    def unplanned_exits(self) -> int:
        """How many times a role exited without being killed or stopped."""
        return len(self.exits)

    def _supervise(self) -> None:
        while not self._closed.wait(SUPERVISE_INTERVAL_S):
            with self._lock:
                for role in self.roles.values():
                    code = role.returncode()
                    if not role.wanted or code is None:
                        continue
                    if not role.planned_death:
                        self.exits.append(
                            RoleExit(
                                role.name, code, time.monotonic(), role.log_file, role.last_lines()
                            )
                        )
                        log.warning(
                            "%s exited by itself (status %d): restarting it", role.name, code
                        )
                        time.sleep(RESTART_DELAY_S)
                    role.start()
