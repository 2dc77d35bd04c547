"""Prometheus's ``promtool``, built with ``go install`` at a pinned version and cached once.

It checks ``infra/prometheus/alerts.yml`` the way Prometheus itself loads it (every PromQL
expression parsed, every template compiled). Like Helm it lands under
``DIFFSTREAM_HOME/artifacts``; Prometheus v3's Go module versions read ``v0.3xx.y`` for
release 3.x.y.

    python -m infra.deploy.promtool check rules infra/prometheus/alerts.yml
    python -m infra.deploy.promtool --build-only
"""

from __future__ import annotations

from pathlib import Path

from diffstream.settings import Settings
from infra.deploy.tools import go_install, tool_main

PROMETHEUS_MODULE = "github.com/prometheus/prometheus"
PROMETHEUS_VERSION = "v0.316.0"  # Prometheus 3.16.0


def promtool_path(settings: Settings) -> Path:
    """Where the pinned build lives (it may not be built yet)."""
    return settings.artifacts / f"promtool-{PROMETHEUS_VERSION}" / "promtool"


def promtool_binary(settings: Settings) -> Path:
    """The pinned ``promtool``, built with ``go install`` on first use (minutes)."""
    package = f"{PROMETHEUS_MODULE}/cmd/promtool"
    return go_install(settings, package, PROMETHEUS_VERSION, promtool_path(settings), "promtool")


def main() -> None:
    """Build once, then run it with these arguments (or just build: ``--build-only``)."""
    tool_main(promtool_binary)


if __name__ == "__main__":
    main()
