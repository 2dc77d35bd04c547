"""What every peer server shares: the engine, one request's fields, and the model's pid.

A request is the JSON object ``{"prompt", "model", "width", "height", "steps",
"guidance_scale", "seed"}``; a server answers with the PNG's bytes. The engine is configured
from ``DIFFSTREAM_ENGINE__*`` (the same variables the diffstream processor reads), so every
system runs the same model on the same device with the same settings.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from diffstream.settings import Settings
from processors.engine import GenerationTask, InferenceEngine

# Where the process that holds the model writes its pid: the bench kills that process.
PID_FILE_VARIABLE = "DIFFSTREAM_PEER_PID_FILE"
REQUEST_FIELDS = ("prompt", "model", "width", "height", "steps", "guidance_scale", "seed")


class Model:
    """The diffstream engine, loaded (and warmed up) once per serving process."""

    def __init__(self) -> None:
        settings = Settings()
        self.engine = InferenceEngine(settings.engine, home=settings.home)
        self.engine.load()
        pid_file = os.environ.get(PID_FILE_VARIABLE)
        if pid_file:
            Path(pid_file).write_text(str(os.getpid()))

    def generate(self, requests: Sequence[Mapping[str, Any]]) -> list[bytes]:
        """One engine call for the batch; one PNG per request, in order."""
        tasks = [task(request) for request in requests]
        return [result.images[0]["data"] for result in self.engine.generate(tasks)]


def task(request: Mapping[str, Any]) -> GenerationTask:
    """The one-image task of a request body (missing fields are refused by the engine)."""
    fields = {name: request[name] for name in REQUEST_FIELDS if name in request}
    return GenerationTask(request_id=str(uuid.uuid4()), **fields)
