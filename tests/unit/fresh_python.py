"""A script run in a fresh interpreter: for what one process can show only from its start
(what an import loads, whether it exits)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping


def run_python(
    script: str, *, timeout_s: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``script`` run by this interpreter in a new process (``env``: its environment, else
    this one's), its output captured as text; the caller checks the exit status."""
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout_s,
        env=env,
    )
