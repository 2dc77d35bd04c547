"""Helm and KEDA's CRDs, fetched with Go's own tools at pinned versions, cached once.

Helm is built with ``go install``; KEDA's CRD schemas come from its Go module
(``go mod download``), so the chart is checked against the exact schema a cluster with
that KEDA would apply. Both land under ``DIFFSTREAM_HOME/artifacts`` next to MinIO's build.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from diffstream.settings import Settings
from infra.stack.tools import require, run_download

log = logging.getLogger(__name__)

HELM_MODULE = "helm.sh/helm/v3"
HELM_VERSION = "v3.19.5"
KEDA_MODULE = "github.com/kedacore/keda/v2"
KEDA_VERSION = "v2.18.0"
KEDA_CRDS = "config/crd/bases"


def _go_env(settings: Settings) -> dict[str, str]:
    go_cache = settings.artifacts / "go"
    return {
        "GOMODCACHE": str(go_cache / "mod"),
        "GOCACHE": str(go_cache / "build"),
        "GOFLAGS": "-modcacherw",
        "CGO_ENABLED": "0",
    }


def helm_binary(settings: Settings) -> Path:
    """The pinned ``helm``, built with ``go install`` on first use (a few minutes)."""
    binary = settings.artifacts / f"helm-{HELM_VERSION}" / "helm"
    return go_install(settings, f"{HELM_MODULE}/cmd/helm", HELM_VERSION, binary, "Helm")


def built_once(binary: Path, build: Callable[[], None]) -> Path:
    """``binary``, made by ``build`` unless it exists, one process at a time: parallel test
    workers want the same tools, and two builds would share one staging folder."""
    if binary.exists():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    with (binary.parent / f"{binary.name}.lock").open("ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if not binary.exists():  # not built by another meanwhile
            build()
    return binary


def go_install(settings: Settings, package: str, version: str, binary: Path, name: str) -> Path:
    """``binary``, built from ``package@version`` with ``go install`` unless it exists."""
    return built_once(binary, lambda: _go_install(settings, package, version, binary, name))


def _go_install(settings: Settings, package: str, version: str, binary: Path, name: str) -> None:
    go = require("go", f"build {name} from source")
    log.info("building %s %s with go install (first run only, minutes)", name, version)
    staging = binary.parent / "bin.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    run_download(
        [go, "install", f"{package}@{version}"],
        f"building {name} {version} with go install",
        env={**_go_env(settings), "GOBIN": str(staging)},
    )
    (staging / binary.name).rename(binary)
    shutil.rmtree(staging, ignore_errors=True)


def go_build_in_module(
    settings: Settings, package: str, version: str, binary: Path, name: str
) -> Path:
    """``binary``, built from ``package@version`` inside a throw-away module unless it exists.

    For modules whose go.mod has ``replace`` or ``exclude`` directives, which ``go install
    pkg@version`` refuses: as a dependency of another module those directives do not apply.
    """
    return built_once(binary, lambda: _go_build_in_module(settings, package, version, binary, name))


def _go_build_in_module(
    settings: Settings, package: str, version: str, binary: Path, name: str
) -> None:
    go = require("go", f"build {name} from source")
    log.info("building %s %s with go (first run only, minutes)", name, version)
    env = _go_env(settings)
    staging = binary.parent / f"{binary.name}.partial"
    with tempfile.TemporaryDirectory(prefix=f"{binary.name}-build-") as folder:
        module = Path(folder)
        init = [go, "mod", "init", f"diffstream.local/{binary.name}"]
        run_download(init, "go mod init", env, module)
        run_download(
            [go, "get", "-tool", f"{package}@{version}"], f"resolving {name} {version}", env, module
        )
        run_download(
            [go, "build", "-o", str(staging), package], f"building {name} {version}", env, module
        )
    staging.rename(binary)


def keda_crd_dir(settings: Settings) -> Path:
    """KEDA's CRD manifests from its Go module at the pinned version (downloaded once)."""
    env = _go_env(settings)
    crds = Path(env["GOMODCACHE"]) / f"{KEDA_MODULE}@{KEDA_VERSION}" / KEDA_CRDS
    if crds.is_dir():
        return crds
    go = require("go", "download KEDA's CRD schemas from its Go module")
    log.info("downloading %s@%s for its CRD schemas (first run only)", KEDA_MODULE, KEDA_VERSION)
    run_download(
        [go, "mod", "download", f"{KEDA_MODULE}@{KEDA_VERSION}"],
        f"downloading {KEDA_MODULE}@{KEDA_VERSION}",
        env=env,
    )
    return crds


def tool_main(binary_of: Callable[[Settings], Path]) -> None:
    """A built tool's command line: build once, then run it with this process's arguments
    (or only build and print its path: ``--build-only``)."""
    logging.basicConfig(level=logging.INFO)
    binary = binary_of(Settings())
    args = sys.argv[1:]
    if args == ["--build-only"]:
        print(binary, flush=True)
        return
    sys.exit(subprocess.run([str(binary), *args], check=False).returncode)
