"""Read a backfill file (JSONL or CSV, one request per line) into numbered entries.

Each line gets a deterministic request_id, uuid5 of the batch id, its line number and its
content, so the same file and batch id always give the same ids and a re-run can tell
what is already published. A bad line becomes a ``LineError`` and never stops the rest.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from diffstream.request_limits import RequestLimits
from producers.exceptions import InputError
from producers.operations.field_text import callback, coerce, parse_time
from schemas.builders import new_request
from schemas.events import Lane
from schemas.exceptions import ValidationError
from schemas.validation import check_request

Format = Literal["jsonl", "csv"]

# Fixed forever: changing it would change every backfill's request_ids.
BACKFILL_NAMESPACE = uuid.UUID("5d0c6f0e-5b7a-4c39-9d53-3f0b7c1e2a10")
# Fields a backfill sets itself; a line may not.
_RESERVED = frozenset({"request_id", "submitted_at", "batch_id", "lineage"})


@dataclass(frozen=True)
class Entry:
    """A valid line: its number, its request_id and the full GenerationRequest."""

    line: int
    request_id: str
    record: dict[str, Any]


@dataclass(frozen=True)
class LineError:
    """A line that cannot become a request, and why."""

    line: int
    message: str


def request_id_for(batch_id: str, line: int, content: str) -> str:
    """The deterministic request_id of a backfill line."""
    return str(uuid.uuid5(BACKFILL_NAMESPACE, f"{batch_id}\n{line}\n{content}"))


def detect_format(path: Path) -> Format:
    """``csv`` for ``.csv`` files, else ``jsonl``."""
    return "csv" if path.suffix.lower() == ".csv" else "jsonl"


def read_entries(
    path: Path,
    batch_id: str,
    *,
    fmt: Format | None = None,
    lane: Lane = Lane.BATCH,
    limits: RequestLimits | None = None,
) -> tuple[list[Entry], list[LineError]]:
    """Every line of ``path`` as an ``Entry`` or a ``LineError``, in file order."""
    entries: list[Entry] = []
    errors: list[LineError] = []
    for number, content, fields in _rows(path, fmt or detect_format(path)):
        if isinstance(fields, LineError):
            errors.append(fields)
            continue
        try:
            record = _record(fields, batch_id, request_id_for(batch_id, number, content), lane)
            check_request(record, limits)
        except (InputError, ValidationError, ValueError, TypeError) as exc:
            errors.append(LineError(number, str(exc)))
            continue
        entries.append(Entry(number, str(record["request_id"]), record))
    return entries, errors


def _rows(path: Path, fmt: Format) -> Iterator[tuple[int, str, dict[str, Any] | LineError]]:
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    with handle:
        if fmt == "csv":
            yield from _csv_rows(handle)
            return
        for number, raw in enumerate(handle, start=1):
            content = raw.strip()
            if not content or content.startswith("#"):
                continue
            try:
                fields = json.loads(content)
            except json.JSONDecodeError as exc:
                yield (
                    number,
                    content,
                    LineError(number, f"not JSON: {exc.msg} at column {exc.colno}"),
                )
                continue
            if isinstance(fields, str):
                fields = {"prompt": fields}  # a line may be just a JSON string: the prompt
            if not isinstance(fields, dict):
                yield number, content, LineError(number, "expected a JSON object with a prompt")
                continue
            yield number, content, fields


def _csv_rows(handle: Any) -> Iterator[tuple[int, str, dict[str, Any] | LineError]]:
    reader = csv.DictReader(handle)
    for row in reader:
        number = reader.line_num
        if None in row:
            yield number, "", LineError(number, "more cells than the header has columns")
            continue
        fields: dict[str, Any] = {}
        try:
            for key, text in row.items():
                if text is None or (text == "" and key != "prompt"):
                    continue  # an empty cell keeps the default
                fields[key] = coerce(key, text)
        except InputError as exc:
            yield number, "", LineError(number, str(exc))
            continue
        yield number, json.dumps(row, sort_keys=True), fields


def _record(fields: dict[str, Any], batch_id: str, request_id: str, lane: Lane) -> dict[str, Any]:
    reserved = sorted(_RESERVED & set(fields))
    if reserved:
        raise InputError(f"{', '.join(reserved)} cannot be set by a line: the backfill sets it")
    if not isinstance(fields.get("prompt"), str):
        raise InputError("prompt is missing (every line needs a prompt)")
    fields = dict(fields)
    # JSON lines carry JSON types already; only the shorthands need converting.
    if isinstance(fields.get("callback"), str):
        fields["callback"] = callback(fields["callback"])
    if isinstance(fields.get("deadline"), str):
        fields["deadline"] = parse_time(fields["deadline"])
    fields.setdefault("lane", lane.value)
    prompt = fields.pop("prompt")
    return new_request(prompt, **fields, request_id=request_id, batch_id=batch_id)
