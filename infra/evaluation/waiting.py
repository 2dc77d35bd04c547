"""Waiting for the shadow requests' outcomes and reading their pictures back."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Collection
from datetime import datetime

from PIL import Image

from diffstream.s3 import make_s3_client, read_object, split_uri
from diffstream.settings import Settings
from processors.store.evaluation import Outcome
from producers.client.events import Event
from producers.client.outcome_reader import OutcomeReader

#: Told how many outcomes have arrived, of how many.
OnOutcome = Callable[[int, int], None]
NO_OUTCOME = "no_outcome"


def wait_for_outcomes(
    settings: Settings,
    request_ids: Collection[str],
    since: datetime,
    timeout_s: float,
    on_outcome: OnOutcome,
) -> dict[str, Event]:
    """The first outcome (completed or failed) of each request, read from ``since``; those
    missing after ``timeout_s`` are left out."""
    wanted = set(request_ids)
    found: dict[str, Event] = {}
    deadline = time.monotonic() + timeout_s
    with OutcomeReader(settings, since) as reader:
        while len(found) < len(wanted) and time.monotonic() < deadline:
            for event in reader.poll(1.0):
                if event.request_id in wanted and event.request_id not in found:
                    found[event.request_id] = event
                    on_outcome(len(found), len(wanted))
    return found


def outcome_of(settings: Settings, request_id: str, event: Event | None) -> Outcome:
    """The Outcome of one request: its error, or its inference time and first picture."""
    if event is None:
        return Outcome(request_id, error_code=NO_OUTCOME)
    if event.kind != "completed":
        return Outcome(request_id, error_code=event.error_code or event.kind)
    timings = event.value.get("timings") or {}
    uris = event.image_uris
    image = _picture(settings, uris[0]) if uris else None
    return Outcome(request_id, inference_s=timings.get("inference_s"), image=image)


def _picture(settings: Settings, uri: str) -> Image.Image:
    image = Image.open(io.BytesIO(read_object(make_s3_client(settings), *split_uri(uri))))
    image.load()
    return image
