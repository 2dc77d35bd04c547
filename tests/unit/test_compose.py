"""docker-compose.yml stays in step with the local stack."""

from __future__ import annotations

from pathlib import Path

import yaml

from infra.stack.kafka import kafka_version

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
PROMETHEUS = ROOT / "infra" / "prometheus" / "prometheus.yml"
# Each role's command and the setting that names its metrics and health port.
ROLES = {
    "gateway": (["diffstream", "gateway"], "DIFFSTREAM_GATEWAY__PORT"),
    "processor": (["diffstream", "process"], "DIFFSTREAM_PROCESSOR__METRICS_PORT"),
    "processor-cpu": (["diffstream", "process"], "DIFFSTREAM_PROCESSOR__METRICS_PORT"),
    "image-sink": (["diffstream", "sink", "images"], "DIFFSTREAM_SINK__METRICS_PORT"),
    "notifier": (["diffstream", "sink", "notify"], "DIFFSTREAM_WEBHOOKS__METRICS_PORT"),
    "view": (["diffstream", "view"], "DIFFSTREAM_VIEW__METRICS_PORT"),
}


def test_compose_pins_the_same_kafka_and_provisions_topics() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert services["kafka"]["image"] == f"apache/kafka:{kafka_version()}"
    assert services["minio"]["image"].startswith("minio/minio:RELEASE.")
    assert "diffstream topics create" in " ".join(services["init"]["command"])
    assert services["processor"]["command"] == ["diffstream", "process"]
    assert services["processor"]["build"]["args"]["EXTRAS"] == "inference"


def _scrape_targets() -> set[tuple[str, int]]:
    """(service, port) of every Prometheus target: static ones and the DNS-discovered."""
    targets: set[tuple[str, int]] = set()
    for job in yaml.safe_load(PROMETHEUS.read_text())["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.split(":")
                targets.add((host, int(port)))
        for dns in job.get("dns_sd_configs", []):
            targets |= {(name, int(dns["port"])) for name in dns["names"]}
    return targets


def test_every_role_runs_and_is_scraped_and_health_checked() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    targets = _scrape_targets()
    for name, (command, port_setting) in ROLES.items():
        service = services[name]
        assert service["command"] == command, name
        port = int(service["environment"][port_setting])
        assert (name, port) in targets, f"Prometheus does not scrape {name}:{port}"
        probe = " ".join(service["healthcheck"]["test"])
        assert f"localhost:{port}/healthz" in probe, name
    assert {host for host, _ in targets} == set(ROLES)


def test_gpu_and_cpu_processors_and_the_observability_stack() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    devices = services["processor"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert services["processor"]["profiles"] == ["gpu"]
    assert services["processor-cpu"]["profiles"] == ["cpu"]
    assert "deploy" not in services["processor-cpu"]
    prometheus_mounts = " ".join(services["prometheus"]["volumes"])
    assert "alerts.yml:/etc/prometheus/alerts.yml" in prometheus_mounts
    rules = yaml.safe_load(PROMETHEUS.read_text())["rule_files"]
    assert rules == ["/etc/prometheus/alerts.yml"]
    grafana_mounts = services["grafana"]["volumes"]
    for mounted in grafana_mounts[:2]:
        assert (ROOT / mounted.split(":")[0].removeprefix("./")).is_dir()
    assert {"kafka-data", "minio-data", "prometheus-data", "grafana-data"} <= compose[
        "volumes"
    ].keys()
    assert "./demo-output:/tmp/diffstream/demo" in services["demo"]["volumes"]
