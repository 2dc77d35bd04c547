"""Debian's Chromium and its chromedriver, installed with apt-get when they are missing.

The browser test needs a real browser; a machine without one gets it from the system's
own packages (``chromium``, ``chromium-driver``), with the downloaded .deb files kept under
``$DIFFSTREAM_HOME/artifacts/apt`` so that a fresh container reinstalls without a download.
Anything that stops the browser from being found or installed raises: the test fails.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from diffstream.settings import Settings

log = logging.getLogger(__name__)

PACKAGES = ("chromium", "chromium-driver")
_INSTALL_TIMEOUT_S = 900


class BrowserUnavailableError(RuntimeError):
    """Chromium or chromedriver is missing and could not be installed."""


@dataclass(frozen=True)
class Chromium:
    """Where the browser and its driver are."""

    browser: Path
    driver: Path


def find() -> Chromium | None:
    """The installed browser and driver, or None when either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser and driver:
        return Chromium(Path(browser), Path(driver))
    return None


def ensure(settings: Settings | None = None) -> Chromium:
    """The browser and driver, installed with apt-get first when missing (needs root)."""
    found = find()
    if found is not None:
        return found
    if shutil.which("apt-get") is None:
        raise BrowserUnavailableError(
            "chromium/chromedriver are not on PATH and there is no apt-get to install them: "
            f"install {' and '.join(PACKAGES)} (or put chromium and chromedriver on PATH)"
        )
    if os.geteuid() != 0:
        raise BrowserUnavailableError(
            "chromium/chromedriver are not on PATH and installing them needs root: run "
            f"`sudo apt-get install -y {' '.join(PACKAGES)}`"
        )
    archives = (settings or Settings()).artifacts / "apt"
    (archives / "partial").mkdir(parents=True, exist_ok=True)
    # Waits for the dpkg lock: parallel test workers may both find chromium missing.
    keep = ["-o", f"Dir::Cache::Archives={archives}", "-o", "DPkg::Lock::Timeout=600"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", *keep, "install", "-y", "--no-install-recommends", *PACKAGES]
    log.warning("installing %s with apt-get (debs cached in %s)", " ".join(PACKAGES), archives)
    # The cached .debs may already be enough; refresh the package lists only when not.
    if _run(install, env) != 0 and (_run(["apt-get", "update"], env) != 0 or _run(install, env)):
        raise BrowserUnavailableError(
            f"`apt-get install {' '.join(PACKAGES)}` failed (see the log above): install them "
            "by hand, or put chromium and chromedriver on PATH"
        )
    found = find()
    if found is None:
        raise BrowserUnavailableError(f"{' and '.join(PACKAGES)} installed, yet not found on PATH")
    return found


def _run(command: list[str], env: dict[str, str]) -> int:
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        tail = result.stderr[-2000:]
        log.warning("%s failed (%d): %s", " ".join(command[:3]), result.returncode, tail)
    return result.returncode
