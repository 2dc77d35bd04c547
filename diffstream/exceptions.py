"""The root of every error diffstream raises on purpose."""


class DiffstreamError(Exception):
    """Base class of every diffstream error; catch this to catch them all."""


class ConfigurationError(DiffstreamError):
    """A setting is missing or inconsistent."""


class DownstreamUnavailableError(DiffstreamError):
    """A system a role writes to (the object store) is unavailable; the work is retried."""


class DroppedBatch(DiffstreamError):  # noqa: N818  # an outcome, not a failure
    """A batch is given up without output (stopping, or its partitions were revoked); it is
    read again by whoever owns its partitions next."""


class DeferMessage(DiffstreamError):  # noqa: N818  # an outcome, not a failure
    """A message cannot be handled yet (e.g. its schema registry is unreachable): read its
    partition again after ``delay_s``."""

    def __init__(self, reason: str, delay_s: float) -> None:
        super().__init__(reason)
        self.delay_s = delay_s


class StuckClientError(DiffstreamError):
    """A Kafka client call blocked past its own timeout; its clients are replaced."""
