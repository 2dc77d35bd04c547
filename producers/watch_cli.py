"""``diffstream subscribe``, ``diffstream watch ID`` and ``diffstream cancel ID``.

Exit codes of ``watch``: 0 completed, 1 failed, 3 cancelled, expired or not finished
within ``--timeout``; 2 an error (as every command). ``subscribe`` runs until Ctrl-C, then
exits 0.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from diffstream.signals import stop_on_signals
from producers.cli_support import console, err_console, errors, kafka_settings
from producers.client.event_stream import EventStream
from producers.client.events import Event
from producers.exceptions import InputError
from producers.operations.cancel import send_cancel
from producers.operations.positions import parse_position
from schemas.events import ErrorCode
from schemas.json_values import jsonable

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)

# Failures that are not the request's own fault: someone cancelled it or time ran out.
_ENDED_EARLY = {ErrorCode.CANCELLED, ErrorCode.EXPIRED, ErrorCode.EXPIRED_IN_TRANSIT}
_WATCHED = ("progress", "status", "completed", "failed")


@app.command("subscribe")
def subscribe(
    events: Annotated[
        str, typer.Option(help="Comma-separated: completed,failed,progress,status,request,result.")
    ] = "completed,failed",
    start: Annotated[
        str, typer.Option("--from", help="earliest, latest, or a time (ISO 8601, -15m).")
    ] = "latest",
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's events.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Each event as its whole record (one JSON per line).")
    ] = False,
) -> None:
    """Print events as they arrive, one JSON object per line, until Ctrl-C."""
    settings = kafka_settings()
    with errors():
        kinds = [kind.strip() for kind in events.split(",") if kind.strip()]
        stream = EventStream(settings, kinds, _start(start))
    # A flag, not KeyboardInterrupt, which can surface inside a client's callback (its
    # logger) and be lost there: the likely cause of one CI run where Ctrl-C did not end it.
    stop = stop_on_signals()
    with stream:
        while not stop.is_set():
            for event in stream.poll(0.5):
                if tenant is not None and tenant_of(event.value) != tenant:
                    continue
                line = event_json(event) if as_json else summary_json(event)
                console.print(json.dumps(line), markup=False, highlight=False, soft_wrap=True)


@app.command("watch")
def watch(
    request_id: Annotated[str, typer.Argument(help="The request to follow.")],
    timeout: Annotated[float | None, typer.Option(help="Give up after this many seconds.")] = None,
) -> None:
    """Show a request's progress live and end with its images (exit 0), its failure (1), or
    its cancellation or expiry (3)."""
    settings = kafka_settings()
    with errors():
        request_id = _request_id(request_id)
        since = datetime.now(UTC) - timedelta(seconds=settings.producer.wait_lookback_s)
        stream = EventStream(settings, _WATCHED, since)
    deadline = None if timeout is None else time.monotonic() + timeout
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    bar = Progress(*columns, TimeElapsedColumn(), console=err_console, transient=False)
    with stream, bar:
        task = bar.add_task("waiting", total=None)
        while deadline is None or time.monotonic() < deadline:
            for event in stream.poll(0.5):
                if event.request_id != request_id:
                    continue
                if event.kind == "progress":
                    steps, step = int(event.value["steps"]), int(event.value["step"])
                    bar.update(task, description="generating", total=steps, completed=step)
                elif event.kind == "status":
                    bar.update(task, description=str(event.value["state"]))
                elif event.kind in ("completed", "failed"):
                    bar.update(task, description=event.kind)
                    bar.stop()
                    raise typer.Exit(_finish(event))
    err_console.print(f"[yellow]timeout:[/yellow] {request_id} did not finish in {timeout:g}s")
    raise typer.Exit(3)


@app.command("cancel")
def cancel(
    request_id: Annotated[str, typer.Argument(help="The request to cancel.")],
    reason: Annotated[str | None, typer.Option(help="Why (carried on the cancel event).")] = None,
    tenant: Annotated[
        str | None, typer.Option(help="The tenant asking (carried on the cancel event).")
    ] = None,
) -> None:
    """Ask that a request not run: it fails as cancelled unless its inference began."""
    settings = kafka_settings()
    with errors():
        send_cancel(settings, _request_id(request_id), reason=reason, tenant=tenant)
    console.print(f"cancel of {request_id} sent", markup=False, highlight=False)


def _finish(event: Event) -> int:
    if event.kind == "completed":
        for image in event.value.get("images", ()):
            console.print(image_link(image), markup=False, highlight=False, soft_wrap=True)
        return 0
    code = event.error_code or ErrorCode.UNKNOWN.value
    colour = "yellow" if code in _ENDED_EARLY else "red"
    err_console.print(f"[{colour}]{code}:[/{colour}] ", end="")
    err_console.print(event.message or "", markup=False)
    return 3 if code in _ENDED_EARLY else 1


def image_link(image: Mapping[str, Any]) -> str:
    """The best address of an image: a URL a browser opens when the event has one, else
    its ``s3://`` URI."""
    return str(image.get("url") or image.get("uri") or image.get("key") or "")


def tenant_of(value: Mapping[str, Any]) -> str | None:
    """The tenant of an event: its own field, or its request's (context / request)."""
    for holder in (value, value.get("context"), value.get("request")):
        if isinstance(holder, Mapping) and isinstance(holder.get("tenant"), str):
            return str(holder["tenant"])
    return None


def summary_json(event: Event) -> dict[str, Any]:
    """The line ``subscribe`` prints without ``--json``: what happened to which request."""
    value = event.value
    line: dict[str, Any] = {"kind": event.kind, "request_id": event.request_id}
    if event.kind == "progress":
        line |= {"step": value.get("step"), "steps": value.get("steps")}
    elif event.kind == "status":
        line["state"] = value.get("state")
    elif event.kind == "completed":
        line["images"] = [image_link(image) for image in value.get("images", ())]
    elif event.kind == "failed":
        line |= {"error_code": event.error_code, "message": event.message}
    tenant = tenant_of(value)
    if tenant is not None:
        line["tenant"] = tenant
    return line | {"at": event.coordinates}


def event_json(event: Event) -> dict[str, Any]:
    """The line ``subscribe --json`` prints: the whole record and where it was read."""
    return {"kind": event.kind, "at": event.coordinates, "event": jsonable(event.value)}


def _start(text: str) -> str | datetime:
    position = parse_position(text)
    if position.edge is not None:
        return position.edge
    if position.time is None:
        raise InputError(f"--from {text!r}: expected earliest, latest or a time, not an offset")
    return position.time


def _request_id(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise InputError(f"request id {text!r}: expected a UUID as `publish` prints") from None
