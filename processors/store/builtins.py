"""The built-in ``digits`` and ``tiny-sd`` pushed to the store and aliased ``prod`` (by
``stack up`` and the demo), so that the default path runs through the store."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

from diffstream.settings import Settings
from processors.store import operations
from processors.store.aliases import write_alias
from schemas.model_aliases import DEFAULT_ALIAS

log = logging.getLogger(__name__)


class BuiltinPush(NamedTuple):
    """One built-in model in the store: its revision and what ``prod`` points at."""

    name: str
    revision: str
    already_stored: bool
    prod: str


def builtin_directories(settings: Settings) -> dict[str, Path]:
    """The built-ins' pipeline directories (tiny-sd built first when missing)."""
    from processors.engine.digits import PACKAGED_WEIGHTS  # noqa: PLC0415
    from processors.engine.tiny_sd import TINY_SD, ensure_tiny_sd  # noqa: PLC0415  # torch
    from schemas.prompts import DIGITS_MODEL  # noqa: PLC0415

    models_dir = settings.engine.models_path(settings.home)
    retrained = models_dir / DIGITS_MODEL
    digits = retrained if (retrained / "model_index.json").is_file() else PACKAGED_WEIGHTS
    return {DIGITS_MODEL: digits, TINY_SD: ensure_tiny_sd(models_dir)}


def push_builtins(settings: Settings) -> list[BuiltinPush]:
    """Push each built-in (idempotent: its content hash is its revision) and alias it
    ``prod`` unless the model has a ``prod`` already (a promoted revision stays)."""
    table = operations.read_aliases(settings)
    pushed: list[BuiltinPush] = []
    for name, directory in builtin_directories(settings).items():
        report = operations.push(settings, directory, name)
        revision = report.manifest.revision
        prod = table.revision(name, DEFAULT_ALIAS)
        if prod is None:
            write_alias(settings, name, DEFAULT_ALIAS, revision)
            prod = revision
        pushed.append(BuiltinPush(name, revision, report.already_stored, prod))
        log.info("built-in %s@%s in the store (prod -> %s)", name, revision, prod)
    return pushed
