"""`diffstream run`'s roles on a thread of the test, with the digits model on the CPU."""

from __future__ import annotations

import threading
from typing import Any

from diffstream.settings import EngineSettings, Settings
from infra.together import run_every_role
from schemas.prompts import DIGITS_MODEL


class RolesThread:
    """Every role in this process; ``failures`` holds what made the run end early."""

    def __init__(self, settings: Settings, **updates: Any) -> None:
        engine = EngineSettings(device="cpu", preload=(DIGITS_MODEL,), warmup=False)
        self.settings = settings.model_copy(update={"engine": engine, **updates})
        self.stop = threading.Event()
        self.failures: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name="diffstream-run", daemon=True)

    def start(self) -> RolesThread:
        self.thread.start()
        return self

    def finish(self, timeout_s: float = 60.0) -> bool:
        """Stop the roles; whether one of them had ended the run by itself (`diffstream run`
        sets the stop event when one of its roles fails)."""
        ended_early = self.stop.is_set()
        self.stop.set()
        self.thread.join(timeout_s)
        return ended_early

    def _run(self) -> None:
        try:
            run_every_role(self.settings, self.stop)
        except BaseException as exc:
            self.failures.append(exc)
