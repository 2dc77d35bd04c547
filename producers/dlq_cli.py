"""``diffstream dlq list|redrive [--topic T]``: dead letters of any dead-letter topic."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from producers.cli_support import console, errors, kafka_settings
from producers.operations.dead_letters import DEFAULT_REDRIVE_GROUP, list_dead_letters, redrive
from schemas.topics import DLQ, WEBHOOKS_DLQ

dlq_app = typer.Typer(
    help=f"Dead letters in {DLQ}, {WEBHOOKS_DLQ}, ... (--topic).", no_args_is_help=True
)

_DLQ_TOPIC_HELP = f"The dead-letter topic: {DLQ} (events), {WEBHOOKS_DLQ} (webhooks), ..."


@dlq_app.command("list")
def dlq_list(
    limit: Annotated[int | None, typer.Option(help="The newest N per partition.")] = None,
    topic: Annotated[str, typer.Option(help=_DLQ_TOPIC_HELP)] = DLQ,
) -> None:
    """List dead letters: where they came from and why."""
    with errors():
        entries = list_dead_letters(kafka_settings(), limit=limit, topic=topic)
    table = Table("dlq", "source", "error", "message", "count", "first seen", "bytes")
    for entry in entries:
        letter = entry.letter
        where = f"[{entry.partition}]@{entry.offset}"
        if letter is None:
            table.add_row(where, "?", "not an envelope", entry.problem, "", "", str(entry.size))
            continue
        table.add_row(
            where,
            f"{letter.topic}[{letter.partition}]@{letter.offset}",
            letter.error_class.rsplit(".", 1)[-1],
            letter.error_message[:120],
            str(letter.count),
            letter.first_seen.isoformat(timespec="seconds"),
            str(entry.size),
        )
    console.print(table)
    console.print(f"{len(entries)} dead letters")


@dlq_app.command("redrive")
def dlq_redrive(
    source_topic: Annotated[
        str | None, typer.Option(help="Only letters from this topic (others are passed over).")
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(
            help=f"Group holding redrive progress (default {DEFAULT_REDRIVE_GROUP}[.TOPIC])."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List, publish nothing.")] = False,
    topic: Annotated[str, typer.Option(help=_DLQ_TOPIC_HELP)] = DLQ,
) -> None:
    """Re-publish dead letters (not yet redriven) to their source topic, bytes unchanged."""
    with errors():
        report = redrive(
            kafka_settings(), group=group, source_topic=source_topic, dry_run=dry_run, topic=topic
        )
    verb = "would redrive" if dry_run else "redrove"
    console.print(f"{verb} {len(report.redriven)}, passed over {len(report.skipped)}")
