"""Render the Helm chart and check every manifest against its schema, without a cluster."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

CHART = Path(__file__).resolve().parents[1] / "helm" / "diffstream"
VALUES_FILES = ("values-cpu-demo.yaml", "values-gpu-production.yaml")
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) is what it is checked at.
KUBERNETES_VERSION = "1.27.0"

Manifest = dict[str, Any]


def helm(binary: Path, *args: str) -> str:
    """Run helm; a failure raises with its output."""
    result = subprocess.run([str(binary), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def values_args(values_file: str) -> list[str]:
    """A values file and the Kubernetes version to render for (a ``go install``ed helm has
    no build-time default: it would assume v1.20, below the chart's kubeVersion)."""
    return ["-f", str(CHART / values_file), "--kube-version", KUBERNETES_VERSION]


def render(binary: Path, values_file: str) -> list[Manifest]:
    """``helm template`` of the chart with one of its values files, as manifests."""
    out = helm(binary, "template", "diffstream", str(CHART), *values_args(values_file))
    return [doc for doc in yaml.safe_load_all(out) if doc]


def crd_schemas(crd_dir: Path) -> dict[tuple[str, str], Manifest]:
    """(apiVersion, kind) -> the openAPIV3Schema of each served version of KEDA's CRDs."""
    schemas: dict[tuple[str, str], Manifest] = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            api_version = f"{group}/{version['name']}"
            schemas[(api_version, kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


def validate(manifest: Manifest, crds: dict[tuple[str, str], Manifest]) -> None:
    """Raise if ``manifest`` breaks its schema: a KEDA CRD's, else Kubernetes' (strict)."""
    key = (manifest["apiVersion"], manifest["kind"])
    if key in crds:
        jsonschema.validate(manifest, crds[key])
        return
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
