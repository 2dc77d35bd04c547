"""The root of every error diffstream raises on purpose."""


class DiffstreamError(Exception):
    """Base class of every diffstream error; catch this to catch them all."""


class ConfigurationError(DiffstreamError):
    """A setting is missing or inconsistent."""
