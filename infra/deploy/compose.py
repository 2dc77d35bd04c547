"""Docker Compose v2's CLI, built from its Go module at a pinned version and cached once.

``docker compose config`` parses, interpolates and validates a compose file against the
Compose specification without a Docker engine, so ``docker-compose.yml`` is checked here
too, where only the docker client is installed. Compose's go.mod has ``exclude`` directives,
so it is built inside a throw-away module (``go_build_in_module``), under
``DIFFSTREAM_HOME/artifacts`` like Helm.

    python -m infra.deploy.compose -f docker-compose.yml config --quiet
    python -m infra.deploy.compose --build-only
"""

from __future__ import annotations

from pathlib import Path

from diffstream.settings import Settings
from infra.deploy.tools import go_build_in_module, tool_main

COMPOSE_MODULE = "github.com/docker/compose/v5"
COMPOSE_VERSION = "v5.6.0"


def compose_path(settings: Settings) -> Path:
    """Where the pinned build lives (it may not be built yet)."""
    return settings.artifacts / f"compose-{COMPOSE_VERSION}" / "docker-compose"


def compose_binary(settings: Settings) -> Path:
    """The pinned ``docker-compose``, built on first use (minutes)."""
    package = f"{COMPOSE_MODULE}/cmd"
    return go_build_in_module(
        settings, package, COMPOSE_VERSION, compose_path(settings), "Docker Compose"
    )


def main() -> None:
    """Build once, then run it with these arguments (or just build: ``--build-only``)."""
    tool_main(compose_binary)


if __name__ == "__main__":
    main()
