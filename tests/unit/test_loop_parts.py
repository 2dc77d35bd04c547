"""Pure parts of the exactly-once loop and its roles: ids, fingerprints, deferrals, dead letters."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, Message

from diffstream.consuming import oldest_first
from diffstream.exceptions import DeferMessage
from diffstream.identity import claim_instance_id
from schemas.builders import new_request
from schemas.decode_retries import MAX_DELAY_S, DecodeRetries
from schemas.dlq import MAX_DEAD_LETTER_VALUE_BYTES, TRUNCATED_FROM, dead_letter, parse_dead_letter
from schemas.exceptions import DecodeError, RegistryUnavailableError, UnknownVersionError
from schemas.fingerprint import request_fingerprint


def message(value: bytes, offset: int = 5) -> Message:
    return Message(topic="diffusion.results", partition=2, offset=offset, key=b"k", value=value)


def test_instance_ids_take_the_lowest_free_index_and_give_it_back(tmp_path: Path) -> None:
    first = claim_instance_id("processor", tmp_path)
    second = claim_instance_id("processor", tmp_path)
    sink = claim_instance_id("image-sink", tmp_path)
    assert first.instance_id.endswith("-0")
    assert second.instance_id.endswith("-1")
    assert sink.instance_id.endswith("-0")
    first.release()
    again = claim_instance_id("processor", tmp_path)
    assert again.instance_id == first.instance_id, "a restarted worker takes its id back"
    assert claim_instance_id("processor", tmp_path, "worker-a").instance_id == "worker-a"


def test_an_instance_id_held_by_a_killed_process_is_free_again(tmp_path: Path) -> None:
    code = (
        "import os, sys; from pathlib import Path;"
        "from diffstream.identity import claim_instance_id;"
        f"claim = claim_instance_id('processor', Path({str(tmp_path)!r}));"
        "print('held', flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"held"
        assert claim_instance_id("processor", tmp_path).instance_id.endswith("-1")
        holder.kill()  # kill -9: the kernel releases its lock
        holder.wait(10)
        assert claim_instance_id("processor", tmp_path).instance_id.endswith("-0")
    finally:
        holder.kill()


def test_a_fingerprint_ignores_transport_fields_and_sees_content() -> None:
    request = new_request("a lighthouse", seed=3)
    retried = {**request, "submitted_at": request["submitted_at"], "traceparent": "00-ab-cd-01"}
    retried["priority"] = 5
    assert request_fingerprint(retried) == request_fingerprint(request)
    assert request_fingerprint({**request, "prompt": "a ship"}) != request_fingerprint(request)
    assert request_fingerprint({**request, "seed": 4}) != request_fingerprint(request)
    assert request_fingerprint({**request, "tenant": "b"}) != request_fingerprint(request)


def test_transient_decode_errors_defer_with_growing_delays_then_give_up() -> None:
    retries = DecodeRetries(give_up_after_s=0.2)
    bad = message(b"\x00\x00")
    delays = []
    for _ in range(7):
        with pytest.raises(DeferMessage) as deferred:
            retries.check(bad, RegistryUnavailableError("registry down"))
        delays.append(deferred.value.delay_s)
    assert delays[:3] == [1.0, 2.0, 4.0]
    assert max(delays) == MAX_DELAY_S
    time.sleep(0.25)
    retries.check(bad, UnknownVersionError("unknown fingerprint"))  # past the horizon: give up
    retries.check(bad, DecodeError("garbage"))  # permanent: never deferred


def test_a_dead_letter_too_large_for_its_topic_is_cut_and_says_so() -> None:
    big = message(b"x" * (MAX_DEAD_LETTER_VALUE_BYTES * 3))
    letter = dead_letter("diffusion.dlq", big, DecodeError("bad"))
    assert letter.value is not None
    assert len(letter.value) == MAX_DEAD_LETTER_VALUE_BYTES
    parsed = parse_dead_letter(letter.headers)  # type: ignore[arg-type]
    assert parsed.truncated_from == MAX_DEAD_LETTER_VALUE_BYTES * 3
    assert (parsed.topic, parsed.partition, parsed.offset) == ("diffusion.results", 2, 5)
    small = dead_letter("diffusion.dlq", message(b"abc"), DecodeError("bad"))
    assert small.value == b"abc"
    assert all(key != TRUNCATED_FROM for key, _ in small.headers)
    assert parse_dead_letter(small.headers).truncated_from is None  # type: ignore[arg-type]


def test_carried_messages_are_taken_oldest_first_across_partitions_in_offset_order() -> None:
    def stamped(partition: int, offset: int, millis: int) -> Message:
        stamp = (TIMESTAMP_CREATE_TIME, millis)
        return Message(topic="requests", partition=partition, offset=offset, timestamp=stamp)

    # As librdkafka hands a fetch over: partition by partition. Partition 2's clock runs
    # backwards: its offset 1 must still wait for its offset 0.
    carried = [
        *(stamped(0, 0, 10), stamped(0, 1, 40), stamped(0, 2, 50)),
        *(stamped(1, 0, 20), stamped(1, 1, 30)),
        *(stamped(2, 0, 100), stamped(2, 1, 5)),
    ]
    taken, rest = oldest_first(carried, 4)
    assert [(m.partition(), m.offset()) for m in taken] == [(0, 0), (1, 0), (1, 1), (0, 1)]
    assert [(m.partition(), m.offset()) for m in rest] == [(0, 2), (2, 0), (2, 1)]
    taken, rest = oldest_first(rest, 2)
    assert [(m.partition(), m.offset()) for m in taken] == [(0, 2), (2, 0)]
    assert [(m.partition(), m.offset()) for m in rest] == [(2, 1)]
    assert oldest_first([], 3) == ([], [])
