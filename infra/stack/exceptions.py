"""Errors of the local stack."""

from diffstream.exceptions import DiffstreamError


class StackError(DiffstreamError):
    """The local stack could not be installed, started or stopped."""


class MissingToolError(StackError):
    """A build tool the local stack needs (java, mvn, go) is not installed."""


class PortInUseError(StackError):
    """A port the local stack wants to listen on is taken by another process."""


class DownloadError(StackError):
    """Resolving the Kafka jars or building MinIO failed."""


class StartupError(StackError):
    """A server was started but did not become ready."""
