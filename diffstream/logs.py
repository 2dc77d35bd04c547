"""Logging set-up for the command line; the library itself only creates loggers."""

from __future__ import annotations

import logging

from rich.logging import RichHandler

LIBRARY_LOGGERS = ("diffstream", "schemas", "producers", "processors", "sinks", "infra")


def configure_logging(level: str = "INFO") -> None:
    """Send diffstream's own loggers to the terminal; leave every other logger alone."""
    handler = RichHandler(show_path=False, rich_tracebacks=True)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level.upper())
        logger.handlers[:] = [handler]
        logger.propagate = False
