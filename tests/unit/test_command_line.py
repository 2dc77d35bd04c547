"""The ``diffstream`` command: every role's commands mounted, with nothing else in between."""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from diffstream_cli.app import app
from infra.cli import app as infra_app
from processors.cli import app as processors_app
from producers.cli import app as producers_app
from sinks.cli import app as sinks_app


def _paths(command: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every command path with its options (name, flags, default)."""
    found = {path: sorted((p.name or "", tuple(p.opts), repr(p.default)) for p in command.params)}
    for name, sub in getattr(command, "commands", {}).items():
        found.update(_paths(sub, (*path, name)))
    return found


def test_every_role_command_is_mounted_with_its_options() -> None:
    root = _paths(typer.main.get_command(app))
    mounted: set[tuple[str, ...]] = set()
    for role_app in (producers_app, processors_app, sinks_app, infra_app):
        role = _paths(typer.main.get_command(role_app))
        role.pop(())
        for path, options in role.items():
            assert root.get(path) == options, path
        mounted |= role.keys()
    assert set(root) - mounted == {()}, "the entry package adds no command of its own"


def test_the_top_level_commands_are_the_documented_ones() -> None:
    top = {path[0] for path in _paths(typer.main.get_command(app)) if len(path) == 1}
    assert top == {
        "stack", "topics", "bucket", "process", "sink", "view", "request", "run", "publish",
        "backfill", "replay", "offsets", "dlq", "bench", "demo", "train-demo-model",
        "gateway", "keys", "chaos", "subscribe", "watch", "cancel", "usage", "models",
    }  # fmt: skip


def test_the_root_option_and_help() -> None:
    result = CliRunner().invoke(app, ["--log-level", "WARNING", "sink", "--help"])
    assert result.exit_code == 0, result.output
    assert "images" in result.output
    assert "notify" in result.output
