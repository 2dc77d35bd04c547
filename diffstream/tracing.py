"""OpenTelemetry tracing: one trace per request, continued from the ``traceparent`` it carries.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set:
then ``tracer()`` is None, no provider is built, the SDK and the exporter are never imported,
and every helper here returns at its first line, so an untraced pipeline pays one ``is None``
test per hop. When set, each role gets a ``TracerProvider`` of its own (``service.name`` the
role, ``service.instance.id`` its instance), so that roles sharing one process
(``diffstream run``, the tests) still show as separate services, each with a
``BatchSpanProcessor`` and the OTLP/HTTP exporter, which reads the endpoint, headers and
timeout from the standard ``OTEL_EXPORTER_OTLP_*`` variables itself.

The event's ``traceparent`` (in the record, so that replays stay in the trace) names the
publish span; every later hop (queue wait, inference, storage, notification) is its child.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from diffstream.exceptions import ConfigurationError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
PROTOCOL_ENVS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
TRACER_NAME = "diffstream"
Attributes = Mapping[str, str | int | float | bool]

_PROPAGATOR = TraceContextTextMapPropagator()
_providers: dict[str, TracerProvider] = {}
_lock = threading.Lock()


def enabled() -> bool:
    """Whether spans are exported: an OTLP endpoint is set and the SDK is not disabled."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(os.environ.get(ENDPOINT_ENV) or os.environ.get(TRACES_ENDPOINT_ENV))


def tracer(role: str, instance: str | None = None) -> Tracer | None:
    """The role's tracer, or None when tracing is off (the caller then skips its spans)."""
    if not enabled():
        return None
    with _lock:
        provider = _providers.get(role)
        if provider is None:
            provider = _providers[role] = _provider(role, instance or default_instance())
    return provider.get_tracer(TRACER_NAME)


def default_instance() -> str:
    """``DIFFSTREAM_INSTANCE``, else the host name and process id."""
    return os.environ.get("DIFFSTREAM_INSTANCE") or f"{socket.gethostname()}-{os.getpid()}"


def providers() -> dict[str, TracerProvider]:
    """The providers built so far, by role (empty while tracing is off)."""
    with _lock:
        return dict(_providers)


def force_flush(timeout_ms: int = 10_000) -> bool:
    """Export every finished span now; whether all providers managed within the timeout."""
    return all(p.force_flush(timeout_ms) for p in providers().values())


def shutdown() -> None:
    """Flush and stop every provider (a role's exit); a later ``tracer()`` builds anew."""
    with _lock:
        built = list(_providers.values())
        _providers.clear()
    for provider in built:
        provider.shutdown()


def _provider(role: str, instance: str) -> TracerProvider:
    # Imported only when tracing is on: an untraced role never loads the SDK or the exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    for name in PROTOCOL_ENVS:
        protocol = os.environ.get(name, "").strip()
        if protocol and protocol != "http/protobuf":
            raise ConfigurationError(
                f"{name}={protocol!r}: diffstream exports spans over OTLP/HTTP only; set it to "
                "http/protobuf (or unset it) and point OTEL_EXPORTER_OTLP_ENDPOINT at the "
                "collector's HTTP port (4318)"
            )
    resource = Resource.create({"service.name": role, "service.instance.id": instance})
    # shutdown_on_exit: an interpreter exit flushes what the role did not (a crash, Ctrl-C).
    provider = TracerProvider(resource=resource, shutdown_on_exit=True)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    log.debug("tracing %s (instance %s) to %s", role, instance, _endpoint())
    return provider


def _endpoint() -> str:
    return os.environ.get(TRACES_ENDPOINT_ENV) or os.environ.get(ENDPOINT_ENV) or ""


# -- spans ------------------------------------------------------------------------------


def parent(traceparent: str | None, tracestate: str | None = None) -> Context | None:
    """The context a W3C ``traceparent`` names (None without one: a new trace starts)."""
    if not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    return _PROPAGATOR.extract(carrier)


def start(
    tracer: Tracer | None,
    name: str,
    *,
    traceparent: str | None = None,
    tracestate: str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    start_time: datetime | None = None,
    attributes: Attributes | None = None,
) -> Span | None:
    """A span continued from ``traceparent``; None when tracing is off."""
    if tracer is None:
        return None
    return tracer.start_span(
        name,
        context=parent(traceparent, tracestate),
        kind=kind,
        attributes=attributes,
        start_time=_nanos(start_time),
    )


def finish(
    span: Span | None,
    *,
    error: BaseException | str | None = None,
    end_time: datetime | None = None,
) -> None:
    """End ``span`` (marked failed with ``error``); nothing for None."""
    if span is None:
        return
    if error is not None:
        span.set_status(StatusCode.ERROR, str(error)[:500])
        if isinstance(error, BaseException):
            span.record_exception(error)
    span.end(end_time=_nanos(end_time))


def finish_all(spans: Iterable[Span], error: BaseException | None = None) -> None:
    """End every span of a batch (failed with ``error``)."""
    for span in spans:
        finish(span, error=error)


def finish_on(future: Future[Any], span: Span | None) -> None:
    """End ``span`` when ``future`` resolves: failed if it raised or was cancelled."""
    if span is None:
        return

    def done(resolved: Future[Any]) -> None:
        error = "cancelled" if resolved.cancelled() else resolved.exception()
        finish(span, error=error)

    future.add_done_callback(done)


def record(
    tracer: Tracer | None,
    name: str,
    *,
    traceparent: str | None,
    tracestate: str | None = None,
    start_time: datetime,
    end_time: datetime,
    attributes: Attributes | None = None,
    error: BaseException | str | None = None,
) -> None:
    """A span of something already over (a queue wait, an inference): explicit times."""
    span = start(
        tracer,
        name,
        traceparent=traceparent,
        tracestate=tracestate,
        start_time=start_time,
        attributes=attributes,
    )
    finish(span, error=error, end_time=max(end_time, start_time))


def traceparent_of(span: Span) -> str | None:
    """The W3C ``traceparent`` that makes later spans children of ``span``."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")


def trace_id(traceparent: str | None) -> str | None:
    """The 32-hex trace id of a ``traceparent`` (for logs), None if there is none."""
    parts = (traceparent or "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def _nanos(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1_000_000_000)
