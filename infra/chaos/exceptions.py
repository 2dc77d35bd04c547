"""Errors of the fault suite."""

from __future__ import annotations

from diffstream.exceptions import DiffstreamError


class ChaosError(DiffstreamError):
    """The fault suite could not set a scenario up or run it (not a verdict on the code)."""


class UnknownScenarioError(ChaosError):
    """A scenario name given on the command line is not one of the suite's."""
