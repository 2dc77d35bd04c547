"""Errors of the benchmark command."""

from __future__ import annotations

from diffstream.exceptions import DiffstreamError


class BenchError(DiffstreamError):
    """A benchmark could not measure what it set out to (a request failed, a timeout)."""
