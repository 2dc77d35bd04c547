"""Which consumed messages a loop processes, and which errors end its clients."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, Message

from diffstream.consuming import usable


def test_a_message_is_usable_and_an_end_of_partition_is_not() -> None:
    assert usable(Message(value=b"x"))
    assert not usable(Message(error=KafkaError(KafkaError._PARTITION_EOF)))


def test_a_transient_error_is_skipped() -> None:
    assert not usable(Message(error=KafkaError(KafkaError._TRANSPORT, "broker down")))


@pytest.mark.parametrize("flagged", [True, False])
def test_a_fatal_error_raises_so_the_loop_makes_new_clients(flagged: bool) -> None:
    """A static member fenced after a coordinator move reads nothing more: skipping the
    error left the image sink, then the processor, idle for good after a broker kill on
    three brokers. librdkafka hands the consumer the fatal event as _FATAL with the fatal
    flag unset (``flagged`` False), as the processor's log showed."""
    fenced = KafkaError(KafkaError._FATAL, "Static consumer fenced", fatal=flagged)
    with pytest.raises(KafkaException) as raised:
        usable(Message(error=fenced))
    assert raised.value.args[0].code() == KafkaError._FATAL
