"""Running a processor as a service: metrics endpoint, signals, the engine loaded while the
consumer joins (``processors.engine_load``)."""

from __future__ import annotations

import logging
import threading

from prometheus_client import REGISTRY, CollectorRegistry

from diffstream.health import Health, serve_health
from diffstream.settings import Settings
from diffstream.signals import stop_on_signals
from processors.engine.engine import InferenceEngine
from processors.worker import StreamProcessor

log = logging.getLogger(__name__)


def serve_processor(
    settings: Settings,
    stop: threading.Event | None = None,
    *,
    serve_metrics: bool = True,
    registry: CollectorRegistry | None = None,
    healths: list[Health] | None = None,
) -> None:
    """Process until SIGTERM/SIGINT (or ``stop``), the engine loading beside the consumer's
    join; ready once both are done; a failed load ends it with the load's error. Without
    ``serve_metrics``, the caller serves ``registry`` and watches the processor's health
    (appended to ``healths``)."""
    stop = stop or stop_on_signals()
    port = settings.processor.metrics_port if serve_metrics else None
    # The process-wide registry only when served: a second processor in one process (the
    # demo run twice, tests) must not collide with the first one's metrics.
    registry = registry or (REGISTRY if port is not None else CollectorRegistry())
    processor = StreamProcessor(
        settings,
        InferenceEngine(settings.engine),
        registry=registry,
        before_load=quiet_model_libraries,  # on the loading thread: it imports diffusers
    )
    if healths is not None:
        healths.append(processor.health)
    if port is not None:
        serve_health(
            port,
            alive=processor.health.is_alive,
            ready=processor.health.is_ready,
            registry=registry,
        )
    processor.run(stop)


def quiet_model_libraries() -> None:
    """A service's log is for its own events: no progress bars or notices from diffusers."""
    from diffusers.utils import logging as diffusers_logging  # noqa: PLC0415
    from transformers.utils import logging as transformers_logging  # noqa: PLC0415

    diffusers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
