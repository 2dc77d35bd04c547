"""Running a processor as a service: engine load, metrics endpoint, signals."""

from __future__ import annotations

import logging
import threading
import time

from prometheus_client import REGISTRY, start_http_server

from diffstream.settings import Settings
from diffstream.signals import stop_on_signals
from processors.engine.engine import InferenceEngine
from processors.worker import StreamProcessor

log = logging.getLogger(__name__)


def serve_processor(
    settings: Settings, stop: threading.Event | None = None, *, serve_metrics: bool = True
) -> None:
    """Load the engine, then process until SIGTERM/SIGINT (or ``stop``)."""
    stop = stop or stop_on_signals()
    quiet_model_libraries()
    processor = StreamProcessor(settings, InferenceEngine(settings.engine), registry=REGISTRY)
    if serve_metrics and settings.processor.metrics_port is not None:
        start_http_server(settings.processor.metrics_port, registry=REGISTRY)
        log.info("metrics on :%d/metrics", settings.processor.metrics_port)
    started = time.perf_counter()
    processor.engine.load()
    processor.metrics.model_load_seconds.observe(time.perf_counter() - started)
    log.info("engine ready in %.1fs", time.perf_counter() - started)
    processor.run(stop)


def quiet_model_libraries() -> None:
    """A service's log is for its own events: no progress bars or notices from diffusers."""
    from diffusers.utils import logging as diffusers_logging  # noqa: PLC0415
    from transformers.utils import logging as transformers_logging  # noqa: PLC0415

    diffusers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
