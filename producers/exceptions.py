"""Errors raised by the producers package: publishing, waiting, backfills, replays, offsets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from diffstream.exceptions import DiffstreamError

if TYPE_CHECKING:
    from producers.client.events import Event


class ProducerError(DiffstreamError):
    """Base class of the errors raised by the producers package."""


class PublishError(ProducerError):
    """Kafka did not acknowledge a request in time (unreachable broker, missing topic...).

    ``topic`` and ``code`` (librdkafka's error code) are set when a delivery report failed.
    """

    def __init__(self, message: str, *, topic: str | None = None, code: int | None = None):
        super().__init__(message)
        self.topic = topic
        self.code = code


class WaitTimeout(ProducerError):  # noqa: N818 (the public name: publisher.wait raises it)
    """No outcome (completed or failed) arrived for a request within the timeout."""

    def __init__(self, request_id: str, timeout_s: float) -> None:
        self.request_id = request_id
        self.timeout_s = timeout_s
        super().__init__(f"no outcome for request {request_id} within {timeout_s:g}s")


class RequestFailed(ProducerError):  # noqa: N818 (the public name, like WaitTimeout)
    """The request ended in a GenerationFailed event; ``event`` carries it."""

    def __init__(self, event: Event) -> None:
        self.event = event
        self.request_id = event.request_id
        self.error_code = str(event.value.get("error_code"))
        self.reason = str(event.value.get("message"))
        super().__init__(f"request {self.request_id} failed: {self.error_code}: {self.reason}")


class TopicNotFoundError(ProducerError):
    """A topic this command reads or writes does not exist on the cluster."""


class InputError(ProducerError):
    """A command-line argument or input file is malformed; the message names it."""


class GroupHasMembersError(ProducerError):
    """Offsets cannot be reset while the consumer group has active members."""

    def __init__(self, group: str, members: list[str]) -> None:
        self.group = group
        self.members = members
        listed = "; ".join(members)
        super().__init__(
            f"consumer group {group!r} has {len(members)} active member(s), stop them first: "
            f"{listed}"
        )


class AdminError(ProducerError):
    """An admin request (describe, list or alter offsets) failed or timed out."""
