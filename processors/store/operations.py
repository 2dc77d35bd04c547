"""What the ``models`` commands do, as functions (``stack up`` and the demo push with them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from diffstream.settings import Settings
from processors.exceptions import ModelStoreConflictError, UnknownModelError
from processors.store.aliases import AliasTable, write_alias
from processors.store.bucket import ModelStore, OnBytes, PushReport
from processors.store.evaluation_store import check_promotion
from processors.store.manifest import Manifest, build_manifest
from processors.store.refs import ModelRef, check_name, check_revision
from schemas.topics import MODEL_ALIASES

CATCH_UP_S = 15.0


class StoredRevision(NamedTuple):
    """A revision and the aliases that point at it."""

    manifest: Manifest
    aliases: list[str]


def read_aliases(settings: Settings) -> AliasTable:
    """The alias table read up to now (stopped: a snapshot)."""
    with AliasTable(settings) as table:
        if not table.caught_up.wait(CATCH_UP_S) or not table.sync(CATCH_UP_S):
            raise UnknownModelError(
                f"could not read {settings.topic(MODEL_ALIASES)} within {CATCH_UP_S:g}s: is "
                f"Kafka up at {settings.kafka_bootstrap} and `diffstream topics create` done?"
            )
    return table


def resolve(settings: Settings, ref: ModelRef, aliases: AliasTable | None = None) -> Manifest:
    """The manifest ``ref`` names (its revision may be an alias); UnknownModelError naming
    what the store holds otherwise."""
    store = ModelStore(settings)
    revision = ref.revision
    if revision is None:
        raise UnknownModelError(f"{ref.name!r} names no revision: write NAME@REV or NAME@ALIAS")
    table = aliases or read_aliases(settings)
    target = table.revision(ref.name, revision) or revision
    manifest = store.manifest(ref.name, target)
    if manifest is not None:
        return manifest
    known = store.manifests(ref.name)
    if not known:
        raise UnknownModelError(
            f"model {ref.name!r} is not in the model store ({store.uri(ref.name, '')[:-2]}): "
            f"push it first: diffstream models push DIR --name {ref.name}"
        )
    names = ", ".join(m.revision for m in known)
    raise UnknownModelError(
        f"{ref}: no revision or alias {revision!r} of {ref.name!r} (revisions: {names}): "
        "`diffstream models list` shows them"
    )


def push(
    settings: Settings,
    directory: Path,
    name: str,
    revision: str | None = None,
    *,
    overwrite: bool = False,
    alias: str | None = None,
    on_bytes: OnBytes | None = None,
    manifest: Manifest | None = None,
    force: bool = False,
) -> PushReport:
    """Push ``directory`` as ``name`` (and point ``alias`` at it, checked as ``set_alias``
    checks it)."""
    check_name(name, "--name")
    if revision is not None:
        check_revision(revision, "--revision")
    if not directory.is_dir():
        raise UnknownModelError(f"DIR {directory} is not a directory: name a diffusers pipeline")
    store = ModelStore(settings)
    manifest = manifest or build_manifest(directory, name, revision)
    extra: dict[str, Any] = {"on_bytes": on_bytes} if on_bytes is not None else {}
    report = store.push(directory, name, overwrite=overwrite, manifest=manifest, **extra)
    if alias is not None:
        _point(settings, report.manifest, check_revision(alias, "--alias"), None, force=force)
    return report


def set_alias(settings: Settings, ref: ModelRef, alias: str, *, force: bool = False) -> Manifest:
    """Point ``ref.name``'s ``alias`` at the revision ``ref`` names; a guarded alias
    (``prod``) only at a revision with a passing evaluation, unless ``force``."""
    check_revision(alias, "ALIAS")
    table = read_aliases(settings)
    manifest = resolve(settings, ref, table)
    _point(settings, manifest, alias, table, force=force)
    return manifest


def _point(
    settings: Settings, manifest: Manifest, alias: str, table: AliasTable | None, *, force: bool
) -> None:
    """Point ``alias`` at ``manifest``'s revision, checked against its evaluations unless
    ``force`` (``table``: the aliases already read, else read here when needed)."""
    if not force:
        table = table or read_aliases(settings)
        check_promotion(settings, manifest, alias, table.revision(manifest.name, alias))
    write_alias(settings, manifest.name, alias, manifest.revision)


def remove_alias(settings: Settings, name: str, alias: str) -> str:
    """Remove ``name``'s ``alias`` (a tombstone); the revision it pointed at."""
    table = read_aliases(settings)
    revision = table.revision(name, alias)
    if revision is None:
        known = ", ".join(r["alias"] for r in table.aliases(name)) or "none"
        raise UnknownModelError(f"{name} has no alias {alias!r} (its aliases: {known})")
    write_alias(settings, name, alias, None)
    return revision


def listing(settings: Settings, name: str | None = None) -> list[StoredRevision]:
    """Every stored revision (of ``name``) with its aliases."""
    table = read_aliases(settings)
    return [
        StoredRevision(m, table.pointing_at(m.name, m.revision))
        for m in ModelStore(settings).manifests(name)
    ]


def remove(settings: Settings, ref: ModelRef) -> int:
    """Delete a revision; refused while an alias points at it. The objects deleted."""
    table = read_aliases(settings)
    manifest = resolve(settings, ref, table)
    pointing = table.pointing_at(manifest.name, manifest.revision)
    if pointing:
        names = ", ".join(f"{manifest.name}@{a}" for a in pointing)
        raise ModelStoreConflictError(
            f"{manifest.name}@{manifest.revision} is aliased ({names}): move the alias first "
            f"(diffstream models alias {manifest.name}@OTHER_REV {pointing[0]}) or remove it "
            f"(diffstream models unalias {manifest.name}@{pointing[0]})"
        )
    return ModelStore(settings).remove(manifest.name, manifest.revision)
