"""Helm and KEDA's CRDs, fetched with Go's own tools at pinned versions, cached once.

Helm is built with ``go install``; KEDA's CRD schemas come from its Go module
(``go mod download``), so the chart is checked against the exact schema a cluster with
that KEDA would apply. Both land under ``DIFFSTREAM_HOME/artifacts`` next to MinIO's build.
"""

from __future__ import annotations

import logging
import shutil
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


def go_install(settings: Settings, package: str, version: str, binary: Path, name: str) -> Path:
    """``binary``, built from ``package@version`` with ``go install`` unless it exists."""
    if binary.exists():
        return binary
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
    return binary


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
