"""Errors of the status view."""

from __future__ import annotations

from sinks.exceptions import SinkError


class ViewError(SinkError):
    """Base class of the status view's errors."""


class ViewConfigurationError(ViewError):
    """The view cannot run as configured."""


class ViewUnavailableError(ViewError):
    """The view's HTTP API cannot be reached (is `diffstream view` running?)."""
