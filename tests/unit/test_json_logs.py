"""DIFFSTREAM_LOG_FORMAT=json: one JSON object per line, with role, instance and request id."""

from __future__ import annotations

import json
import logging

import pytest

from diffstream.logs import LIBRARY_LOGGERS, configure_logging


@pytest.fixture
def restore_loggers() -> object:
    saved = {name: logging.getLogger(name).handlers[:] for name in LIBRARY_LOGGERS}
    yield None
    for name, handlers in saved.items():
        logging.getLogger(name).handlers[:] = handlers


def test_json_lines_carry_role_instance_and_request_id(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, restore_loggers: object
) -> None:
    monkeypatch.setenv("DIFFSTREAM_INSTANCE", "worker-3")
    configure_logging("INFO", "json")
    logging.getLogger("processors.worker").info("batch of %d", 4, extra={"request_id": "r-1"})
    logging.getLogger("sinks.notify").warning("slow endpoint")
    lines = capsys.readouterr().err.splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "batch of 4"
    assert (first["role"], first["instance"], first["request_id"]) == (
        "processor",
        "worker-3",
        "r-1",
    )
    assert first["trace_id"] is None  # tracing off: no span, no id
    assert (second["role"], second["level"], second["request_id"]) == ("notifier", "WARNING", None)


def test_an_unknown_format_names_the_variable_and_the_choices(restore_loggers: object) -> None:
    with pytest.raises(ValueError, match="DIFFSTREAM_LOG_FORMAT must be text or json"):
        configure_logging("INFO", "xml")
