"""One request's failure stays its own (issue 13, short variants of `make chaos`'s
duplicates-neighbours scenario): a request_id published twice, a different request under an
id already used, and a bad neighbour, each in one batch with good requests."""

from __future__ import annotations

import pytest

from diffstream.settings import Settings
from infra.chaos.load import LoadPublisher, digits_request
from infra.chaos.outcomes import OutcomeReader
from infra.chaos.verdict import COMPLETES, Expect, fails
from processors.engine.engine import InferenceEngine
from processors.engine.settings import EngineSettings
from schemas.prompts import DIGITS_MODEL
from tests.integration.isolation import isolate
from tests.integration.request_isolation_support import (
    assert_outcomes,
    processor_and_sink,
    stored_objects,
)

pytestmark = pytest.mark.integration

TIMEOUT_S = 90.0


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> InferenceEngine:
    engine = InferenceEngine(
        EngineSettings(device="cpu", preload=(DIGITS_MODEL,), warmup=False),
        home=tmp_path_factory.mktemp("engine"),
    )
    engine.load()
    return engine


@pytest.fixture
def own(settings: Settings) -> Settings:
    return isolate(settings)


def test_a_request_published_twice_completes_once_and_hurts_no_one(
    own: Settings, engine: InferenceEngine
) -> None:
    good = [digits_request(i) for i in (1, 2, 3)]
    twice = digits_request(4)
    expected = {str(r["request_id"]): COMPLETES for r in [*good, twice]}
    # Published before the processor starts: its first batch holds all of them.
    LoadPublisher(own).send([good[0], twice, good[1], twice, good[2]])
    with OutcomeReader(own) as reader, processor_and_sink(own, engine):
        reader.wait_for(expected, TIMEOUT_S)
        assert_outcomes(reader, expected)
    assert len(stored_objects(own)) == 4, "one image per request, none written twice"


def test_a_different_request_under_a_used_id_fails_alone(
    own: Settings, engine: InferenceEngine
) -> None:
    used = digits_request(0)
    publisher = LoadPublisher(own)
    with OutcomeReader(own) as reader:
        publisher.send([used])
        with processor_and_sink(own, engine):
            assert reader.wait_for([str(used["request_id"])], TIMEOUT_S, settle_s=0)
        # After a restart, so that only what Kafka holds can tell the id was used.
        good = [digits_request(i) for i in (1, 2)]
        impostor = digits_request(5, request_id=used["request_id"])
        publisher.send([good[0], impostor, good[1]])
        expected = {str(r["request_id"]): COMPLETES for r in good}
        expected[str(used["request_id"])] = Expect(completed=1, failed=("duplicate_request_id",))
        with processor_and_sink(own, engine):
            reader.wait_for(expected, TIMEOUT_S)
            assert_outcomes(reader, expected)


def test_a_bad_neighbour_fails_alone_with_its_field_named(
    own: Settings, engine: InferenceEngine
) -> None:
    good = [digits_request(i) for i in (1, 2, 3)]
    # `digits` takes no negative prompt: a non-retryable error of this request alone.
    neighbour = digits_request(6, negative_prompt="blurry")
    expected = {str(r["request_id"]): COMPLETES for r in good}
    expected[str(neighbour["request_id"])] = fails(
        "invalid_request", message_contains="negative_prompt"
    )
    LoadPublisher(own).send([good[0], neighbour, good[1], good[2]])
    with OutcomeReader(own) as reader, processor_and_sink(own, engine):
        reader.wait_for(expected, TIMEOUT_S)
        assert_outcomes(reader, expected)
