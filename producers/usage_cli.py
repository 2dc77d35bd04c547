"""``diffstream usage --from --to --by tenant|model|lane [--csv]``: metered usage, added up."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from producers.cli_support import console, errors, kafka_settings
from producers.operations.positions import parse_position
from producers.operations.usage import groupings, to_csv, total, usage_report

# Short headers so that the table fits 80 columns; --csv names them in full (COLUMNS).
_HEADERS = (
    "reqs",
    "done",
    "failed",
    "cancel",
    "expired",
    "images",
    "Mpx·steps",
    "accel s",
    "wait s",
)
_FROM_HELP = "Offset, time (ISO 8601, now, -24h), earliest or latest; inclusive."


def usage_command(
    start: Annotated[str, typer.Option("--from", help=_FROM_HELP)] = "earliest",
    end: Annotated[
        str, typer.Option("--to", help="Offset, time, earliest or latest; exclusive.")
    ] = "latest",
    by: Annotated[
        str, typer.Option(help="tenant, model (model@revision) or lane; several: tenant,lane.")
    ] = "tenant",
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV on stdout, full precision.")] = False,
) -> None:
    """Usage per tenant, model or lane from diffusion.usage (one event per terminal outcome)."""
    with errors():
        names = groupings(by)
        first, last = parse_position(start), parse_position(end)
    settings = kafka_settings()
    with errors():
        report = usage_report(settings, start=first, end=last, by=names)
    if as_csv:
        typer.echo(to_csv(report.rows, names), nl=False)
        return
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        title=f"{report.topic} {start} .. {end}",
    )
    for index, name in enumerate(names):
        widest = max((len(row.key[index]) for row in report.rows), default=5)
        table.add_column(name, min_width=min(max(widest, 5), 24), overflow="fold")
    for header in _HEADERS:
        table.add_column(header, justify="right", no_wrap=True)
    for row in [*report.rows, total(report.rows, len(names))]:
        requests, *counts, images, pixel_steps, seconds, queue = row.values()
        table.add_row(
            *row.key,
            str(requests),
            *(str(count) for count in counts),
            str(images),
            f"{pixel_steps / 1e6:,.1f}",
            f"{seconds:.2f}",
            f"{queue:.2f}",
        )
    # A pipe gets 80 columns from rich: wide enough for every column rather than cut.
    (console if console.is_terminal else Console(width=120)).print(table)
    if report.undecodable:
        console.print(f"[yellow]{report.undecodable} undecodable events skipped[/yellow]")
