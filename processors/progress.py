"""GenerationProgress events: the denoising steps of a request, rate-limited.

Opt-in (``DIFFSTREAM_PROCESSOR__PROGRESS_INTERVAL_MS`` > 0). They are information for a
progress bar, not part of the exactly-once outcome: produced outside the cycle's
transaction, so a batch that is retried or redone after a crash reports its steps again.
"""

from __future__ import annotations

import math
import time

from diffstream.kafka import make_producer
from diffstream.settings import Settings
from processors.engine.results import StepProgress
from schemas.codec import Codec
from schemas.events import EventName
from schemas.signals import new_progress
from schemas.topics import PROGRESS


class ProgressReporter:
    """At most one event per request per interval, and always the last step's."""

    def __init__(self, settings: Settings, codec: Codec, interval_ms: int) -> None:
        self._codec = codec
        self._topic = settings.topic(PROGRESS)
        self._interval_s = interval_ms / 1000
        self._producer = make_producer(settings, {"enable.idempotence": True, "linger.ms": 5})
        self._last_sent: dict[tuple[str, ...], float] = {}

    def report(self, progress: StepProgress, *, attempt: int, model: str | None) -> None:
        """Publish ``progress`` for each request of the pipeline call, unless one was sent
        less than the interval ago (the final step is always sent)."""
        call = progress.request_ids
        now = time.monotonic()
        final = progress.step >= progress.steps
        if not final and now - self._last_sent.get(call, -math.inf) < self._interval_s:
            return
        if final:
            self._last_sent.pop(call, None)
        else:
            self._last_sent[call] = now
        headers = self._codec.headers(EventName.PROGRESS)
        for request_id in call:
            record = new_progress(
                request_id, step=progress.step, steps=progress.steps, attempt=attempt, model=model
            )
            value = self._codec.encode(EventName.PROGRESS, record, topic=self._topic)
            self._producer.produce(self._topic, value, request_id.encode(), headers=headers)
        self._producer.poll(0)

    def close(self) -> None:
        """Deliver what is queued (briefly: progress is not worth a slow shutdown)."""
        self._producer.flush(5)
