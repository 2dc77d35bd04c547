"""Producer commands of the ``diffstream`` CLI: publish, backfill, replay, offsets, dlq,
subscribe, watch, cancel (those three in ``watch_cli``), usage (``usage_cli``; dlq in
``dlq_cli``).

``app`` is merged into the top-level CLI (``app.add_typer(producers_app)``); it also runs
on its own as ``python -m producers.cli``. Exit codes: 0 ok, 1 a request failed (or a
backfill had failures or invalid lines), 2 an error (bad input, Kafka unreachable), 3 a
wait timed out.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from producers.cli_support import console, err_console, kafka_settings
from producers.cli_support import errors as _errors
from producers.client.publisher import Publisher
from producers.dlq_cli import dlq_app
from producers.exceptions import InputError, RequestFailed, WaitTimeout
from producers.gateway.cli import gateway_command, keys_app
from producers.operations.backfill import Progress as BackfillProgress
from producers.operations.backfill import run_backfill
from producers.operations.backfill_file import Format
from producers.operations.field_text import assignment, callback, coerce, parse_time
from producers.operations.offset_reset import Target, reset_offsets
from producers.operations.positions import parse_position
from producers.operations.replay import replay as run_replay
from producers.usage_cli import usage_command
from producers.watch_cli import app as watch_app
from schemas.events import Lane

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
offsets_app = typer.Typer(help="Consumer-group offsets.", no_args_is_help=True)
app.add_typer(offsets_app, name="offsets")
app.add_typer(dlq_app, name="dlq")
app.add_typer(keys_app, name="keys")
app.add_typer(watch_app)  # subscribe, watch, cancel
app.command("gateway")(gateway_command)
app.command("usage")(usage_command)

_SIZE = re.compile(r"(\d+)[xX](\d+)")
_DURATION = re.compile(r"\+?(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


# ---- publish ----------------------------------------------------------------------------


@app.command("publish")
def publish(  # noqa: PLR0917 (typer: one parameter per option)
    prompt: Annotated[str, typer.Argument(help="What to draw.")],
    model: Annotated[str, typer.Option(help="Model name or diffusers id.")] = "tiny-sd",
    revision: Annotated[
        str | None,
        typer.Option(help="A revision or alias in the model store; default: the alias prod."),
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Denoising steps.")] = None,
    size: Annotated[str | None, typer.Option(help="WIDTHxHEIGHT, e.g. 512x512.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed; random when left out.")] = None,
    n: Annotated[int | None, typer.Option("--n", help="Number of images.")] = None,
    negative: Annotated[str | None, typer.Option(help="Negative prompt.")] = None,
    guidance: Annotated[float | None, typer.Option(help="Guidance scale.")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Scheduler, e.g. euler_a.")] = None,
    callback_url: Annotated[
        str | None,
        typer.Option(
            "--callback",
            help='Webhook URL for completed/failed, or JSON {"url": URL, "events": [...]} '
            "naming completed, failed and/or status (every state change).",
        ),
    ] = None,
    lane: Annotated[str, typer.Option(help="interactive or batch.")] = "interactive",
    deadline: Annotated[
        str | None, typer.Option(help="ISO 8601 time, or a duration from now (90s, 10m, 1h).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait and print the image URIs.")] = False,
    timeout: Annotated[
        float | None,
        typer.Option(help="Seconds for the whole command (publish and --wait)."),
    ] = None,
) -> None:
    """Publish one generation request and print its request_id (and, with --wait, its images)."""
    settings = kafka_settings()
    with _errors():
        fields: dict[str, Any] = {"model": model, "lane": lane}
        if size is not None:
            fields["width"], fields["height"] = _size(size)
        optional: dict[str, Any] = {"steps": steps, "seed": seed, "num_images": n}
        optional |= {"negative_prompt": negative, "guidance_scale": guidance}
        optional |= {"scheduler": scheduler, "revision": revision}
        fields |= {key: value for key, value in optional.items() if value is not None}
        if callback_url is not None:
            fields["callback"] = callback(callback_url)
        if deadline is not None:
            fields["deadline"] = _deadline(deadline)
        budget = timeout if timeout is not None else settings.producer.wait_timeout_s
        started = datetime.now(UTC)
        publish_timeout = min(settings.producer.publish_timeout_s, budget)
        with Publisher(settings, publish_timeout_s=publish_timeout) as publisher:
            request_id = publisher.submit(prompt, **fields)
            console.print(request_id, markup=False, highlight=False, soft_wrap=True)
            if not wait:
                return
            left = budget - (datetime.now(UTC) - started).total_seconds()
            try:
                event = publisher.wait(request_id, max(left, 0.1))
            except RequestFailed as exc:
                err_console.print(f"[red]failed:[/red] {exc.error_code}: ", end="")
                err_console.print(exc.reason, markup=False)
                raise typer.Exit(1) from None
            except WaitTimeout as exc:
                err_console.print("[red]timeout:[/red] ", end="")
                err_console.print(str(exc), markup=False)
                raise typer.Exit(3) from None
        for uri in event.image_uris:
            console.print(uri, markup=False, highlight=False, soft_wrap=True)


def _size(text: str) -> tuple[int, int]:
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise InputError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 512x512")
    return int(match.group(1)), int(match.group(2))


def _deadline(text: str) -> datetime:
    match = _DURATION.fullmatch(text.strip())
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
        return datetime.now(UTC) + delta
    try:
        return parse_time(text)
    except ValueError:
        raise InputError(
            f"--deadline {text!r}: expected an ISO 8601 time or a duration such as 10m"
        ) from None


# ---- backfill ---------------------------------------------------------------------------


@app.command("backfill")
def backfill(  # noqa: PLR0917 (typer: one parameter per option)
    file: Annotated[Path, typer.Argument(help="JSONL or CSV, one request per line.")],
    batch_id: Annotated[
        str | None, typer.Option(help="Batch id (default: file name + content digest).")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="At most this many requests/s.")] = None,
    follow: Annotated[bool, typer.Option("--follow", help="Track every request to its end.")] = (
        False
    ),
    file_format: Annotated[
        str | None, typer.Option("--format", help="jsonl or csv (default: by extension).")
    ] = None,
    lane: Annotated[str, typer.Option(help="batch (default) or interactive.")] = "batch",
    limit: Annotated[int | None, typer.Option(help="Publish at most this many this run.")] = None,
    follow_timeout: Annotated[
        float | None, typer.Option(help="Stop following after this many seconds.")
    ] = None,
) -> None:
    """Publish a file of requests, each line once (a re-run publishes only what is missing)."""
    settings = kafka_settings()
    with _errors():
        if lane not in ("batch", "interactive"):
            raise InputError(f"--lane {lane!r}: expected batch or interactive")
        with _BackfillProgress() as progress:
            report = run_backfill(
                settings,
                file,
                batch_id=batch_id,
                fmt=_format(file_format),
                lane=Lane(lane),
                rate=rate,
                limit=limit,
                follow=follow,
                follow_timeout_s=follow_timeout,
                on_progress=progress.update,
            )
    for error in report.invalid:
        err_console.print(f"[yellow]line {error.line}:[/yellow] ", end="")
        err_console.print(error.message, markup=False)
    failures = report.failures
    if failures:
        table = Table("line", "request_id", "error", "message", title="failed requests")
        for entry, event in failures:
            table.add_row(str(entry.line), entry.request_id, event.error_code, event.message)
        console.print(table)
    summary = (
        f"batch {report.batch_id}: {len(report.entries)} valid lines, "
        f"{report.already_published} already published, {report.published} published now, "
        f"{len(report.invalid)} invalid"
    )
    if follow:
        summary += f"; {report.completed} done, {len(failures)} failed, {report.pending} pending"
    console.print(summary, markup=False)
    console.print(f"manifest: {report.manifest_uri}", markup=False)
    if report.invalid or failures:
        raise typer.Exit(1)


def _format(text: str | None) -> Format | None:
    if text is None:
        return None
    if text == "jsonl":
        return "jsonl"
    if text == "csv":
        return "csv"
    raise InputError(f"--format {text!r}: expected jsonl or csv")


class _BackfillProgress:
    """A rich progress bar per phase (scan, publish, follow)."""

    def __init__(self) -> None:
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
        )
        self._tasks: dict[str, Any] = {}

    def update(self, progress: BackfillProgress) -> None:
        task = self._tasks.get(progress.phase)
        if task is None:
            task = self._bar.add_task(progress.phase, total=progress.total, detail="")
            self._tasks[progress.phase] = task
        detail = ""
        if progress.phase == "follow":
            pending = progress.total - progress.done
            detail = f"done {progress.completed} failed {progress.failed} pending {pending}"
        self._bar.update(task, completed=progress.done, total=progress.total, detail=detail)

    def __enter__(self) -> _BackfillProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()


# ---- replay -----------------------------------------------------------------------------


@app.command("replay")
def replay(  # noqa: PLR0917 (typer: one parameter per option)
    topic: Annotated[str, typer.Option(help="Topic to read, e.g. diffusion.requests.")],
    start: Annotated[
        str,
        typer.Option(
            "--from", help="Offset, time (ISO 8601, now, -15m), earliest or latest; inclusive."
        ),
    ],
    end: Annotated[str, typer.Option("--to", help="Offset, time, earliest or latest; exclusive.")],
    partition: Annotated[int | None, typer.Option(help="Only this partition.")] = None,
    filters: Annotated[
        list[str] | None, typer.Option("--filter", help="FIELD=VALUE (dotted: labels.k=v).")
    ] = None,
    sets: Annotated[
        list[str] | None, typer.Option("--set", help="FIELD=VALUE override, e.g. model=sd-turbo.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, publish nothing.")] = False,
) -> None:
    """Re-publish a window of a topic as new requests with lineage (reprocessing)."""
    settings = kafka_settings()
    with _errors():
        overrides = {}
        for text in sets or []:
            field, value = assignment(text)
            overrides[field] = coerce(field, value)
        report = run_replay(
            settings,
            topic,
            start=parse_position(start),
            end=parse_position(end),
            partition=partition,
            filters=dict(assignment(text) for text in filters or []),
            overrides=overrides,
            dry_run=dry_run,
        )
    for skipped in report.skipped:
        err_console.print(f"[yellow]skipped {skipped.coordinates}:[/yellow] ", end="")
        err_console.print(skipped.reason, markup=False)
    window = ", ".join(f"[{r.partition}] {r.start}..{r.end}" for r in report.ranges if r.size)
    console.print(f"{report.topic} {window or '(empty window)'}", markup=False)
    verb = "would publish" if dry_run else "published"
    count = report.selected - len(report.skipped) if dry_run else len(report.published)
    console.print(f"{report.selected} selected, {verb} {count}", markup=False)


# ---- offsets ----------------------------------------------------------------------------


@offsets_app.command("reset")
def offsets_reset(  # noqa: PLR0917 (typer: one parameter per option)
    group: Annotated[str, typer.Option(help="Consumer group.")],
    to_time: Annotated[
        str | None,
        typer.Option(
            help="First offset at or after this time (ISO 8601, -1h), or earliest/latest."
        ),
    ] = None,
    to_earliest: Annotated[bool, typer.Option("--to-earliest")] = False,
    to_latest: Annotated[bool, typer.Option("--to-latest")] = False,
    topics: Annotated[
        list[str] | None, typer.Option("--topic", help="Topics (default: those it committed).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, change nothing.")] = False,
) -> None:
    """Reset a group's offsets; refused (members listed) while the group has members."""
    settings = kafka_settings()
    with _errors():
        chosen = [to_time is not None, to_earliest, to_latest]
        if sum(chosen) != 1:
            raise InputError("give exactly one of --to-time, --to-earliest, --to-latest")
        when: datetime | None = None
        to: Target = "earliest" if to_earliest else "latest"
        if to_time is not None:
            position = parse_position(to_time)
            when, to = position.time, position.edge or "time"
            if position.offset is not None:
                raise InputError(
                    f"--to-time {to_time!r}: expected a time, earliest or latest, not an offset"
                )
        changes = reset_offsets(
            settings, group, to=to, when=when, topics=topics or [], dry_run=dry_run
        )
    table = Table("topic", "partition", "before", "after", title=f"group {group}")
    for change in changes:
        before = "-" if change.before is None else str(change.before)
        table.add_row(change.topic, str(change.partition), before, str(change.after))
    console.print(table)
    console.print("dry run: nothing changed" if dry_run else f"{len(changes)} offsets reset")


def main() -> None:
    """``python -m producers.cli``: the producer commands on their own."""
    app()


if __name__ == "__main__":
    main()
