"""The Helm chart lints, renders with both values files, and every rendered manifest
passes its schema: Kubernetes' (kubernetes-validate, strict) or KEDA's CRD (from its Go
module). Helm is built once with ``go install`` and cached under DIFFSTREAM_HOME."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from diffstream.settings import Settings
from infra.deploy.chart import (
    CHART,
    VALUES_FILES,
    Manifest,
    crd_schemas,
    helm,
    render,
    validate,
    values_args,
)
from infra.deploy.tools import helm_binary, keda_crd_dir
from schemas.topics import REQUESTS, REQUESTS_BATCH, TOPICS

PARTITIONS = {spec.name: spec.partitions for spec in TOPICS}


@pytest.fixture(scope="module")
def helm_path() -> Path:
    return helm_binary(Settings())


@pytest.fixture(scope="module")
def crds() -> dict[tuple[str, str], Manifest]:
    return crd_schemas(keda_crd_dir(Settings()))


@pytest.fixture(scope="module", params=VALUES_FILES)
def rendered(request: pytest.FixtureRequest, helm_path: Path) -> list[Manifest]:
    return render(helm_path, request.param)


def _kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def _container(workload: Manifest) -> dict[str, Any]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    return containers[0]


def _env(workload: Manifest) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in _container(workload)["env"]}


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_helm_lint_passes(helm_path: Path, values_file: str) -> None:
    helm(helm_path, "lint", "--strict", str(CHART), *values_args(values_file))


def test_every_manifest_passes_its_schema(
    rendered: list[Manifest], crds: dict[tuple[str, str], Manifest]
) -> None:
    assert ("keda.sh/v1alpha1", "ScaledObject") in crds
    for manifest in rendered:
        validate(manifest, crds)


def test_a_broken_scaled_object_fails_keda_schema(
    rendered: list[Manifest], crds: dict[tuple[str, str], Manifest]
) -> None:
    scaled = _kind(rendered, "ScaledObject")[0]
    broken = {**scaled, "spec": {**scaled["spec"], "minReplicaCount": "one"}}
    with pytest.raises(jsonschema.ValidationError):
        validate(broken, crds)


def test_every_role_runs_with_probes_non_root_read_only(rendered: list[Manifest]) -> None:
    workloads = _kind(rendered, "Deployment") + _kind(rendered, "StatefulSet")
    commands = {" ".join(_container(w)["command"]) for w in workloads}
    assert commands == {
        "diffstream gateway",
        "diffstream process",
        "diffstream sink images",
        "diffstream sink notify",
        "diffstream view",
    }
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        container = _container(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_processors_have_stable_ids_and_outlast_their_grace(rendered: list[Manifest]) -> None:
    for statefulset in _kind(rendered, "StatefulSet"):
        env = _env(statefulset)
        assert env["DIFFSTREAM_PROCESSOR__INSTANCE_ID"] == {
            "fieldRef": {"fieldPath": "metadata.name"}
        }
        grace = float(env["DIFFSTREAM_PROCESSOR__SHUTDOWN_GRACE_S"])
        assert statefulset["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace
    pdbs = {
        p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        for p in _kind(rendered, "PodDisruptionBudget")
    }
    assert pdbs == {"processor-interactive", "processor-batch"}


def test_lanes_scale_on_lag_within_the_partitions(rendered: list[Manifest]) -> None:
    scaled = {s["metadata"]["name"]: s["spec"] for s in _kind(rendered, "ScaledObject")}
    interactive = scaled["diffstream-processor-interactive"]
    batch = scaled["diffstream-processor-batch"]
    assert interactive["triggers"][0]["metadata"]["topic"] == REQUESTS
    assert batch["triggers"][0]["metadata"]["topic"] == REQUESTS_BATCH
    assert interactive["minReplicaCount"] >= 1
    assert batch["minReplicaCount"] == 0
    assert interactive["maxReplicaCount"] + batch["maxReplicaCount"] <= PARTITIONS[REQUESTS]
    for spec in scaled.values():
        for trigger in spec["triggers"]:
            assert trigger["type"] == "kafka"
            assert spec["maxReplicaCount"] <= PARTITIONS[trigger["metadata"]["topic"]]
    assert {"diffstream-image-sink", "diffstream-notifier"} <= scaled.keys()


def test_too_many_processors_for_the_partitions_is_refused(helm_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"above kafka\.partitions"):
        helm(
            helm_path,
            "template",
            "x",
            str(CHART),
            *values_args(VALUES_FILES[0]),
            "--set",
            "processor.lanes.batch.maxReplicaCount=12",
        )


def test_only_the_notifier_reaches_the_outside(rendered: list[Manifest]) -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in _kind(rendered, "NetworkPolicy")}
    outside = [
        rule
        for rule in policies["diffstream-notifier"]["egress"]
        for peer in rule.get("to", [])
        if peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0" and "ports" not in rule
    ]
    assert outside
    for rule in policies["diffstream-roles"]["egress"]:
        assert "ports" in rule


def test_an_unknown_kubernetes_field_fails_the_strict_schema(
    rendered: list[Manifest], crds: dict[tuple[str, str], Manifest]
) -> None:
    deployment = _kind(rendered, "Deployment")[0]
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken, crds)
