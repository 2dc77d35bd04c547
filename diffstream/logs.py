"""Logging set-up for the command line; the library itself only creates loggers.

``DIFFSTREAM_LOG_FORMAT=json`` writes one JSON object per line (for a log collector) with the
role, the instance, and the request id and trace id where the record knows them; otherwise
the terminal gets rich's readable lines.
"""

from __future__ import annotations

import logging
import os
import socket
import sys

from pythonjsonlogger.json import JsonFormatter
from rich.logging import RichHandler

LIBRARY_LOGGERS = ("diffstream", "schemas", "producers", "processors", "sinks", "infra")

# The role a logger's module belongs to (longest prefix first); roles in one process
# (`diffstream run`) are told apart this way.
ROLE_OF_LOGGER = (
    ("processors", "processor"),
    ("sinks.images", "image-sink"),
    ("sinks.notify", "notifier"),
    ("sinks.view", "view"),
    ("sinks", "sink"),
    ("producers.gateway", "gateway"),
    ("producers", "producer"),
    ("infra", "infra"),
)


class RoleFields(logging.Filter):
    """Adds role, instance, request_id and trace_id to every record (None where unknown)."""

    def __init__(self, instance: str) -> None:
        super().__init__()
        self.instance = instance

    def filter(self, record: logging.LogRecord) -> bool:
        record.role = next(
            (role for prefix, role in ROLE_OF_LOGGER if record.name.startswith(prefix)),
            "diffstream",
        )
        record.instance = self.instance
        record.request_id = getattr(record, "request_id", None)
        record.trace_id = getattr(record, "trace_id", None) or _current_trace_id()
        return True


def _current_trace_id() -> str | None:
    """The active span's trace id: the API's no-op span when tracing is off (no SDK work)."""
    from opentelemetry import trace  # noqa: PLC0415  # cheap: the API only

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def json_handler() -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(role)s %(instance)s "
            "%(request_id)s %(trace_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    return handler


def configure_logging(level: str = "INFO", log_format: str | None = None) -> None:
    """Send diffstream's own loggers to the terminal (or, as JSON lines, to stderr); leave
    every other logger alone."""
    log_format = (log_format or os.environ.get("DIFFSTREAM_LOG_FORMAT") or "text").lower()
    if log_format not in ("text", "json"):
        raise ValueError(
            f"DIFFSTREAM_LOG_FORMAT must be text or json, got {log_format!r}: unset it or "
            "pick one of the two"
        )
    if log_format == "json":
        handler = json_handler()
        instance = os.environ.get("DIFFSTREAM_INSTANCE") or socket.gethostname()
        handler.addFilter(RoleFields(instance))
    else:
        handler = RichHandler(show_path=False, rich_tracebacks=True)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level.upper())
        logger.handlers[:] = [handler]
        logger.propagate = False
