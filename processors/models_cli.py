"""``diffstream models``: push model directories to the bucket's model store, list and show
revisions, move aliases, remove revisions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from diffstream.exceptions import DiffstreamError
from diffstream.settings import Settings
from processors.store import operations
from processors.store.manifest import build_manifest
from processors.store.refs import parse_ref

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(help="The model store in the bucket: push, list, show, alias, rm.")


def _fail(error: Exception) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {error}", markup=True, highlight=False)
    return typer.Exit(2)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@app.command("push")
def push(  # noqa: PLR0917 (typer: one parameter per option)
    directory: Annotated[Path, typer.Argument(help="A diffusers pipeline directory.")],
    name: Annotated[str, typer.Option(help="The model's name in the store, e.g. digits.")],
    revision: Annotated[
        str | None, typer.Option(help="Default: a short hash of the files (idempotent).")
    ] = None,
    alias: Annotated[
        str | None, typer.Option(help="Also point this alias (e.g. prod) at the revision.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Upload every file again (repairs a corrupt revision).")
    ] = False,
    force: Annotated[
        bool, typer.Option(help="Move a guarded --alias (prod) without a passing evaluation.")
    ] = False,
) -> None:
    """Upload DIR to models/NAME/REV/ with a manifest (sizes, sha256, pipeline class)."""
    settings = Settings()
    try:
        manifest = build_manifest(directory, name, revision) if directory.is_dir() else None
        columns = (TextColumn("pushing"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, TimeRemainingColumn(), console=err_console) as progress:
            total = manifest.total_bytes if manifest else 0
            bar = progress.add_task("push", total=total)
            report = operations.push(
                settings,
                directory,
                name,
                revision,
                overwrite=overwrite,
                alias=alias,
                manifest=manifest,
                force=force,
                on_bytes=lambda n: progress.advance(bar, n),
            )
    except (DiffstreamError, ValueError) as exc:
        raise _fail(exc) from None
    stored = report.manifest
    what = "already stored" if report.already_stored else f"pushed {report.uploaded_files} files"
    console.print(
        f"{stored.name}@{stored.revision}: {what} ({_size(stored.total_bytes)}, "
        f"{stored.pipeline_class})" + (f"; {alias} -> {stored.revision}" if alias else "")
    )


@app.command("list")
def list_models(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
) -> None:
    """Every stored revision with its size, pipeline class, creation time and aliases."""
    try:
        revisions = operations.listing(Settings(), name)
    except DiffstreamError as exc:
        raise _fail(exc) from None
    table = Table("model", "revision", "aliases", "size", "pipeline", "created")
    for stored, aliases in revisions:
        m = stored
        table.add_row(
            m.name,
            m.revision,
            ", ".join(aliases),
            _size(m.total_bytes),
            m.pipeline_class,
            f"{m.created_at:%Y-%m-%d %H:%M:%S}",
        )
    console.print(table if revisions else "no models in the store (diffstream models push)")


@app.command("show")
def show(ref: Annotated[str, typer.Argument(help="NAME@REV or NAME@ALIAS.")]) -> None:
    """A revision's manifest: every file with its size and sha256."""
    try:
        manifest = operations.resolve(Settings(), parse_ref(ref, need_revision=True))
    except DiffstreamError as exc:
        raise _fail(exc) from None
    console.print(manifest.model_dump_json(indent=2), highlight=False, soft_wrap=True)


@app.command("alias")
def alias(
    ref: Annotated[str, typer.Argument(help="NAME@REV (or NAME@ALIAS) to point at.")],
    name: Annotated[str, typer.Argument(metavar="ALIAS", help="The alias, e.g. prod.")],
    force: Annotated[
        bool, typer.Option(help="Move a guarded alias (prod) without a passing evaluation.")
    ] = False,
) -> None:
    """Point ALIAS of the model at a revision; every processor follows within seconds. A
    guarded alias (prod) moves only to a revision with a passing `models evaluate`."""
    try:
        ref_ = parse_ref(ref, need_revision=True)
        manifest = operations.set_alias(Settings(), ref_, name, force=force)
    except DiffstreamError as exc:
        raise _fail(exc) from None
    console.print(f"{manifest.name}@{name} -> {manifest.revision}")


@app.command("unalias")
def unalias(ref: Annotated[str, typer.Argument(help="NAME@ALIAS to remove.")]) -> None:
    """Remove an alias (requests naming it then fail; with prod gone, the model resolves
    as without a store)."""
    try:
        parsed = parse_ref(ref, need_revision=True)
        assert parsed.revision is not None
        revision = operations.remove_alias(Settings(), parsed.name, parsed.revision)
    except DiffstreamError as exc:
        raise _fail(exc) from None
    console.print(f"removed {ref} (it pointed at {revision})")


@app.command("rm")
def remove(ref: Annotated[str, typer.Argument(help="NAME@REV to delete.")]) -> None:
    """Delete a revision from the bucket; refused while an alias points at it."""
    try:
        deleted = operations.remove(Settings(), parse_ref(ref, need_revision=True))
    except DiffstreamError as exc:
        raise _fail(exc) from None
    console.print(f"removed {ref} ({deleted} objects)")
