"""Errors of the sinks package."""

from __future__ import annotations

from diffstream.exceptions import DiffstreamError, DownstreamUnavailableError


class SinkError(DiffstreamError):
    """Base class of the errors raised by the sinks package."""


class StorageUnavailableError(SinkError, DownstreamUnavailableError):
    """The object store cannot be reached or is overloaded; the write is retried later."""


class StorageAccessDeniedError(SinkError):
    """The object store refused the credentials or the operation (AccessDenied)."""


class BucketMissingError(SinkError):
    """The bucket does not exist and the sink is not allowed to create it (NoSuchBucket)."""


class WebhookRefusedError(SinkError):
    """A callback URL is not allowed: bad scheme, or a non-public address not allow-listed."""


class WebhookConfigurationError(SinkError):
    """The notifier cannot run as configured (e.g. no signing secret)."""


class WebhookDeliveryError(SinkError):
    """A webhook was given up (refused, or not delivered within the give-up horizon)."""
