"""Settings come from DIFFSTREAM_* variables, keep secrets secret and build client configs."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from diffstream.loop_contract import LoopOptions
from diffstream.settings import Settings


def test_reads_documented_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIFFSTREAM_KAFKA_BOOTSTRAP", "broker-a:9092,broker-b:9092")
    monkeypatch.setenv("DIFFSTREAM_S3_ENDPOINT", "https://s3.example.test:443/")
    monkeypatch.setenv("DIFFSTREAM_S3_ACCESS_KEY", "AKIAEXAMPLE")
    monkeypatch.setenv("DIFFSTREAM_S3_SECRET_KEY", "very-secret-value")
    monkeypatch.setenv("DIFFSTREAM_S3_BUCKET", "images")
    monkeypatch.setenv("DIFFSTREAM_HOME", "/tmp/diffstream-home")
    monkeypatch.setenv("DIFFSTREAM_LIMITS__MAX_STEPS", "42")
    settings = Settings()
    assert settings.kafka_bootstrap == "broker-a:9092,broker-b:9092"
    assert settings.s3_endpoint == "https://s3.example.test:443"
    assert settings.s3_secure
    assert settings.s3_host_port == "s3.example.test:443"
    assert settings.s3_bucket == "images"
    assert settings.home == Path("/tmp/diffstream-home")
    assert settings.artifacts == Path("/tmp/diffstream-home/artifacts")
    assert settings.limits.max_steps == 42


def test_secrets_never_appear_in_repr_or_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIFFSTREAM_S3_SECRET_KEY", "very-secret-value")
    monkeypatch.setenv("DIFFSTREAM_KAFKA_SASL_PASSWORD", "kafka-secret-value")
    settings = Settings()
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "very-secret-value" not in text
        assert "kafka-secret-value" not in text


def test_kafka_config_carries_security_settings() -> None:
    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="svc",
        kafka_sasl_password=pydantic.SecretStr("pw"),
        kafka_ssl_ca_file=Path("/etc/ca.pem"),
    )
    config = settings.kafka_config({"group.id": "g"})
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.username"] == "svc"
    assert config["sasl.password"] == "pw"
    assert config["ssl.ca.location"] == "/etc/ca.pem"
    assert config["group.id"] == "g"


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(pydantic.ValidationError):
        settings.s3_bucket = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("kafka_bootstrap", "no-port", "DIFFSTREAM_KAFKA_BOOTSTRAP"),
        ("s3_endpoint", "127.0.0.1:9000", "DIFFSTREAM_S3_ENDPOINT"),
        ("s3_endpoint", "ftp://host:21", "DIFFSTREAM_S3_ENDPOINT"),
    ],
)
def test_bad_addresses_name_the_variable(field: str, value: str, variable: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=variable):
        Settings(**{field: value})  # type: ignore[arg-type]


def test_topic_prefix() -> None:
    assert Settings(topic_prefix="staging.").topic("diffusion.requests") == (
        "staging.diffusion.requests"
    )


def test_the_group_protocol_reaches_the_consumer_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIFFSTREAM_PROCESSOR__GROUP_PROTOCOL", "consumer")
    settings = Settings()
    kip848 = LoopOptions.of("processor", "w-1", ["t"], settings.processor).consumer_config()
    assert (kip848["group.protocol"], kip848["group.remote.assignor"]) == ("consumer", "range")
    # The broker owns the session timeout and the assignor on KIP-848's protocol.
    assert "session.timeout.ms" not in kip848
    assert "partition.assignment.strategy" not in kip848
    classic = LoopOptions.of("sink", "w-1", ["t"], settings.sink).consumer_config()
    assert classic["partition.assignment.strategy"] == "cooperative-sticky"
    assert "group.protocol" not in classic


def test_an_unknown_group_protocol_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIFFSTREAM_PROCESSOR__GROUP_PROTOCOL", "eager")
    with pytest.raises(pydantic.ValidationError, match=r"processor\.group_protocol[\s\S]*classic"):
        Settings()
