"""Finding and running the build tools the local stack needs."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from infra.stack.exceptions import DownloadError, MissingToolError

INSTALL_HINTS = {
    "java": "install a Java 17+ runtime (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)",
    "mvn": "install Apache Maven (Debian/Ubuntu: apt-get install maven)",
    "go": "install Go 1.24+ (Debian/Ubuntu: apt-get install golang, or your Go distribution)",
}


def require(tool: str, purpose: str) -> str:
    """The path of ``tool``, or a MissingToolError that says how to get it."""
    path = shutil.which(tool)
    if path is None:
        raise MissingToolError(
            f"`{tool}` is not on PATH; it is needed to {purpose}: {INSTALL_HINTS.get(tool, '')}"
        )
    return path


def run_download(
    argv: Sequence[str], what: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> None:
    """Run a command that downloads or builds something; a failure says what and why."""
    result = subprocess.run(
        list(argv),
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise DownloadError(
            f"{what} failed (exit {result.returncode}; is the package registry reachable?):\n"
            f"$ {' '.join(argv)}\n{tail}"
        )
