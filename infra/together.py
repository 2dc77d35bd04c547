"""`diffstream run`: every role in one process, each on a thread of its own (the local demo)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    REGISTRY,
    CollectorRegistry,
)

from diffstream.health import Health, serve_health
from diffstream.settings import Settings

log = logging.getLogger(__name__)


def run_every_role(settings: Settings, stop: threading.Event, *, gateway: bool = False) -> None:
    """Run the processor, the image sink, (with a signing secret) the notifier and (with
    ``gateway``) the HTTP gateway until ``stop`` is set; one role failing stops the others."""
    # Roles are imported here: the processor brings torch, and infra stays light without it.
    from processors.serve import serve_processor  # noqa: PLC0415
    from sinks.images import ImageSink  # noqa: PLC0415
    from sinks.notify import Notifier  # noqa: PLC0415

    # Served (DIFFSTREAM_RUN__METRICS_PORT): every role's metrics in the process registry
    # and one readiness, ready once every role is.
    served = settings.run.metrics_port is not None
    registry = process_registry() if served else None
    healths: list[Health] = []
    sink = ImageSink(settings, registry=registry)
    healths.append(sink.health)
    roles: dict[str, Callable[[], None]] = {
        "processor": lambda: serve_processor(
            settings, stop, serve_metrics=False, registry=registry, healths=healths
        ),
        "image-sink": lambda: sink.run(stop),
    }
    if settings.webhooks.signing_secret is not None:
        notifier = Notifier(settings, registry=registry)
        healths.append(notifier.health)
        roles["notifier"] = lambda: notifier.run(stop)
    else:
        log.warning("no DIFFSTREAM_WEBHOOKS__SIGNING_SECRET: webhooks are not sent")
    if gateway:
        from producers.gateway.serve import serve_gateway_until  # noqa: PLC0415
        from producers.gateway.settings import GatewaySettings  # noqa: PLC0415

        roles["gateway"] = lambda: serve_gateway_until(settings, GatewaySettings(), stop)
    if settings.run.metrics_port is not None:
        expected = len(roles) - ("gateway" in roles)  # the gateway serves its own port
        serve_health(
            settings.run.metrics_port,
            alive=lambda: all(h.is_alive() for h in healths),
            ready=lambda: len(healths) == expected and all(h.is_ready() for h in healths),
            registry=registry or REGISTRY,
        )
    failures: list[BaseException] = []

    def guarded(name: str, role: Callable[[], None]) -> None:
        try:
            role()
        except BaseException as exc:
            log.exception("%s stopped", name)
            failures.append(exc)
            stop.set()

    threads = [
        threading.Thread(target=guarded, args=(name, role), name=name)
        for name, role in roles.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def process_registry() -> CollectorRegistry:
    """A registry of its own with the process's collectors (memory, CPU, GC): a second run
    in one process (tests, the demo twice) must not collide with the first one's metrics."""
    registry = CollectorRegistry()
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return registry
