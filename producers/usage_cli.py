"""``diffstream usage --from --to --by tenant|model|lane [--csv]``: metered usage, added up."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from producers.cli_support import console, errors, kafka_settings
from producers.operations.positions import parse_position
from producers.operations.usage import COLUMNS, groupings, to_csv, total, usage_report

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
    table = Table(*names, *COLUMNS, title=f"{report.topic} {start} .. {end}")
    for row in [*report.rows, total(report.rows, len(names))]:
        requests, *counts, images, pixel_steps, seconds, queue = row.values()
        table.add_row(
            *row.key,
            str(requests),
            *(str(count) for count in counts),
            str(images),
            f"{pixel_steps:,}",
            f"{seconds:.3f}",
            f"{queue:.3f}",
        )
    console.print(table)
    if report.undecodable:
        console.print(f"[yellow]{report.undecodable} undecodable events skipped[/yellow]")
