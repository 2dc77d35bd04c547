"""Errors of ``diffstream models evaluate``."""

from __future__ import annotations

from diffstream.exceptions import DiffstreamError


class EvaluationError(DiffstreamError):
    """A shadow evaluation could not run (no requests in the window, no such revision)."""
