"""Errors of the HTTP gateway; each becomes an HTTP answer that names what to fix."""

from __future__ import annotations

from producers.exceptions import ProducerError


class GatewayError(ProducerError):
    """Base class of the gateway's errors; ``status`` is the HTTP status it answers with."""

    status = 500

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadBodyError(GatewayError):
    """The body is not what the endpoint takes (size, content type, JSON)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class UnauthorizedError(GatewayError):
    """No API key, or one that is unknown or revoked."""

    status = 401


class NotFoundError(GatewayError):
    """No such request for this tenant (another tenant's id answers the same)."""

    status = 404


class ConflictError(GatewayError):
    """A PUT whose id is taken by a different request."""

    status = 409


class LimitExceededError(GatewayError):
    """A tenant's limit was reached; ``Retry-After`` says when to try again."""

    status = 429

    def __init__(self, limit: str, message: str, retry_after_s: float) -> None:
        seconds = max(1, int(retry_after_s + 0.999))
        super().__init__(message, headers={"Retry-After": str(seconds)})
        self.limit = limit
        self.retry_after_s = seconds


class OverloadedError(LimitExceededError):
    """The interactive lane is too far behind: shed instead of queueing without bound."""

    status = 503


class UnavailableError(GatewayError):
    """Kafka did not acknowledge a publish in time."""

    status = 503
