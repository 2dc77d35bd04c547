"""`diffstream run`: every role in one process, each on a thread of its own (the local demo)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from diffstream.settings import Settings

log = logging.getLogger(__name__)


def run_every_role(settings: Settings, stop: threading.Event, *, gateway: bool = False) -> None:
    """Run the processor, the image sink, (with a signing secret) the notifier and (with
    ``gateway``) the HTTP gateway until ``stop`` is set; one role failing stops the others."""
    # Roles are imported here: the processor brings torch, and infra stays light without it.
    from processors.serve import serve_processor  # noqa: PLC0415
    from sinks.images import ImageSink  # noqa: PLC0415
    from sinks.notify import Notifier  # noqa: PLC0415

    roles: dict[str, Callable[[], None]] = {
        "processor": lambda: serve_processor(settings, stop, serve_metrics=False),
        "image-sink": lambda: ImageSink(settings).run(stop),
    }
    if settings.webhooks.signing_secret is not None:
        roles["notifier"] = lambda: Notifier(settings).run(stop)
    else:
        log.warning("no DIFFSTREAM_WEBHOOKS__SIGNING_SECRET: webhooks are not sent")
    if gateway:
        from producers.gateway.serve import serve_gateway_until  # noqa: PLC0415
        from producers.gateway.settings import GatewaySettings  # noqa: PLC0415

        roles["gateway"] = lambda: serve_gateway_until(settings, GatewaySettings(), stop)
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
