"""The client API of the producers role: publish requests, wait for outcomes, subscribe.

What upstream code imports (``from producers.client import Publisher``); the operator tools
in ``producers.operations`` build on it, never the other way round.
"""

from producers.client.events import Event
from producers.client.outcome_reader import OutcomeReader
from producers.client.publisher import AsyncPublisher, Publisher
from producers.client.subscriber import Subscription, subscribe

__all__ = ["AsyncPublisher", "Event", "OutcomeReader", "Publisher", "Subscription", "subscribe"]
