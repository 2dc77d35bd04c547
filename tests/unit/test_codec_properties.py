"""Poison bytes: whatever arrives, decoding raises only DecodeError (or a subclass)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.catalog import load_catalog
from schemas.codec import Codec
from schemas.events import EventName
from schemas.examples import example
from schemas.exceptions import DecodeError, UnknownSchemaError
from schemas.registry import registry_client

CODEC = Codec.without_registry()
REGISTRY_CODEC = Codec(registry_client=registry_client("mock://properties"))
VALID = {event: CODEC.encode(event, example(event)) for event in EventName}
VALID_CONFLUENT = {event: REGISTRY_CODEC.encode(event, example(event)) for event in EventName}
KNOWN = {version.fingerprint for version in load_catalog()}
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decode_or_decode_error(codec: Codec, data: bytes) -> None:
    """Decoding may succeed (random bytes can be a valid record) or raise DecodeError only."""
    failure: DecodeError | None = None
    try:
        codec.decode(data, topic="diffusion.requests", partition=0, offset=7)
    except DecodeError as error:
        failure = error
    if failure is not None:
        assert str(failure).startswith("diffusion.requests[0]@7: ")


@PROPERTY
@given(st.binary(max_size=512))
def test_random_bytes(data: bytes) -> None:
    _decode_or_decode_error(CODEC, data)
    _decode_or_decode_error(REGISTRY_CODEC, data)


@PROPERTY
@given(st.sampled_from(list(EventName)), st.binary(max_size=256))
def test_known_header_with_random_body(event: EventName, body: bytes) -> None:
    _decode_or_decode_error(CODEC, VALID[event][:10] + body)
    _decode_or_decode_error(REGISTRY_CODEC, VALID_CONFLUENT[event][:5] + body)


@PROPERTY
@given(st.sampled_from(list(EventName)), st.data())
def test_flipped_bytes(event: EventName, data: st.DataObject) -> None:
    for encoded, codec in ((VALID[event], CODEC), (VALID_CONFLUENT[event], REGISTRY_CODEC)):
        position = data.draw(st.integers(0, len(encoded) - 1))
        flip = data.draw(st.integers(1, 255))
        damaged = bytearray(encoded)
        damaged[position] ^= flip
        _decode_or_decode_error(codec, bytes(damaged))


@PROPERTY
@given(st.binary(min_size=8, max_size=8), st.binary(max_size=64))
def test_unknown_fingerprints(fingerprint: bytes, body: bytes) -> None:
    if fingerprint in KNOWN:
        return
    with pytest.raises(UnknownSchemaError):
        CODEC.decode(b"\xc3\x01" + fingerprint + body)


@pytest.mark.parametrize("event", list(EventName))
@pytest.mark.parametrize("framing", ["single-object", "confluent"])
def test_every_truncation_is_a_decode_error(event: EventName, framing: str) -> None:
    single = framing == "single-object"
    codec = CODEC if single else REGISTRY_CODEC
    encoded = VALID[event] if single else VALID_CONFLUENT[event]
    for length in range(len(encoded)):
        with pytest.raises(DecodeError):
            codec.decode(encoded[:length])
