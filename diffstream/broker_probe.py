"""A quick metadata probe before a command talks to Kafka: fail in seconds, saying why.

librdkafka retries an unreachable cluster silently until a command's own timeout (30 s for
a publish) and then reports only "timed out". The probe asks for the cluster's metadata
with a short timeout and keeps the errors librdkafka reports meanwhile (``error_cb``), so
the message names the bootstrap servers and the cause: refused, DNS, TLS or SASL.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from diffstream.exceptions import DiffstreamError
from diffstream.kafka import RepeatThrottle, librdkafka_log
from diffstream.settings import Settings

PROBE_TIMEOUT_S = 3.0
_ASK_EVERY_S = 0.5

_SASL = (
    "SASL: authentication failed (check DIFFSTREAM_KAFKA_SASL_MECHANISM, "
    "DIFFSTREAM_KAFKA_SASL_USERNAME, DIFFSTREAM_KAFKA_SASL_PASSWORD)"
)
_TLS = (
    "TLS: the handshake failed (check DIFFSTREAM_KAFKA_SECURITY_PROTOCOL, "
    "DIFFSTREAM_KAFKA_SSL_CA_FILE)"
)
_DNS = "DNS: the host name does not resolve (check DIFFSTREAM_KAFKA_BOOTSTRAP)"
_REFUSED = "connection refused: nothing listens there (is Kafka up? `diffstream stack status`)"

# What each librdkafka error means to someone at a terminal, and what to check.
_CAUSES: dict[int, str] = {
    KafkaError._RESOLVE: _DNS,
    KafkaError._SSL: _TLS,
    KafkaError._AUTHENTICATION: _SASL,
    KafkaError.SASL_AUTHENTICATION_FAILED: _SASL,
}


class _AsDebug(logging.Filter):
    """The probe's own client logs at DEBUG (throttled): what it saw is in the error it
    raises, so at the default level nothing of it reaches the terminal."""

    def __init__(self) -> None:
        super().__init__()
        self._throttle = RepeatThrottle()

    def filter(self, record: logging.LogRecord) -> bool:
        if not _probe_log.isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return self._throttle.filter(record)


_probe_log = librdkafka_log.getChild("probe")
_probe_log.addFilter(_AsDebug())


class BrokerUnreachableError(DiffstreamError):
    """The Kafka cluster did not answer a metadata request in time."""


def describe_cause(errors: list[KafkaError]) -> str:
    """The most telling cause among ``errors`` (librdkafka's own words when none is known)."""
    for error in errors:
        if error.code() in _CAUSES:
            return f"{_CAUSES[error.code()]}: {error.str()}"
    for error in errors:
        text = error.str()
        lowered = text.lower()
        if "refused" in lowered:
            return f"{_REFUSED}: {text}"
        if "resolve" in lowered:
            return f"{_DNS}: {text}"
        if "ssl" in lowered or "handshake" in lowered:
            return f"{_TLS}: {text}"
        if "sasl" in lowered or "authenticat" in lowered:
            return f"{_SASL}: {text}"
    if errors:
        return errors[-1].str()
    return "no answer (a firewall dropping packets, or a broker still starting)"


def probe_broker(settings: Settings, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Return once the cluster answers a metadata request; ``BrokerUnreachableError`` naming
    the bootstrap servers and the cause otherwise (within about ``timeout_s``)."""
    errors: list[KafkaError] = []
    lock = threading.Lock()

    def keep(error: KafkaError) -> None:
        with lock:
            errors.append(error)

    config: dict[str, Any] = {
        **settings.kafka_config({"socket.connection.setup.timeout.ms": int(timeout_s * 1000)}),
        "error_cb": keep,
    }
    admin = AdminClient(config, logger=_probe_log)
    deadline = time.monotonic() + timeout_s
    last: list[KafkaError] = []
    while True:
        try:
            admin.list_topics(timeout=max(min(_ASK_EVERY_S, deadline - time.monotonic()), 0.05))
            return
        except KafkaException as exc:
            last = [exc.args[0]] if exc.args and isinstance(exc.args[0], KafkaError) else []
        admin.poll(0)  # serves error_cb: the connection errors seen so far
        if time.monotonic() >= deadline:
            break
    with lock:
        seen = [*errors, *last]
    raise BrokerUnreachableError(
        f"Kafka at {settings.kafka_bootstrap} (DIFFSTREAM_KAFKA_BOOTSTRAP) did not answer "
        f"within {timeout_s:g}s: {describe_cause(seen)}"
    )
