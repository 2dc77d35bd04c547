"""The local stack's parts that need no server: tools, ports, pid files, configuration."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import pydantic
import pytest

from diffstream.exceptions import ConfigurationError
from diffstream.settings import Settings
from infra.stack.exceptions import DownloadError, MissingToolError, PortInUseError, StackError
from infra.stack.kafka import LocalKafka, kafka_version
from infra.stack.minio import LocalMinio
from infra.stack.ports import ensure_free, free_port, is_listening
from infra.stack.process import ManagedProcess
from infra.stack.tools import require, run_download


def test_missing_tool_says_what_it_is_for_and_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MissingToolError, match=r"`mvn` is not on PATH.*apt-get install maven"):
        require("mvn", "resolve the Kafka broker's jars")


def test_failed_download_reports_the_command_and_its_output() -> None:
    script = "import sys; print('could not resolve org.apache.kafka'); sys.exit(3)"
    with pytest.raises(DownloadError, match=r"exit 3[\s\S]*could not resolve org.apache.kafka"):
        run_download([sys.executable, "-c", script], "resolving Kafka")


def test_taken_port_names_the_setting() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert is_listening("127.0.0.1", port)
        with pytest.raises(PortInUseError, match=rf"127.0.0.1:{port}.*DIFFSTREAM_S3_ENDPOINT"):
            ensure_free("127.0.0.1", port, "MinIO", "DIFFSTREAM_S3_ENDPOINT")
    ensure_free("127.0.0.1", free_port(), "MinIO", "DIFFSTREAM_S3_ENDPOINT")


def test_managed_process_stops_only_what_it_started(tmp_path: Path) -> None:
    process = ManagedProcess("sleeper", tmp_path)
    assert process.running_process() is None
    pid = process.start([sys.executable, "-c", "import time; time.sleep(60)"], {}, tmp_path)
    running = process.running_process()
    assert running is not None
    assert running.pid == pid
    assert process.stop(timeout_s=10) is True
    assert process.running_process() is None
    assert not process.pid_file.exists()
    assert process.stop() is False


def test_stale_pid_file_is_not_trusted(tmp_path: Path) -> None:
    process = ManagedProcess("ghost", tmp_path)
    # Our own pid under another command line: a reused pid must never be signalled.
    record = {"pid": os.getpid(), "created": time.time(), "argv": ["kafka", "server.properties"]}
    process.pid_file.write_text(json.dumps(record))
    assert process.running_process() is None
    assert not process.pid_file.exists()
    # A pid file from before the command line was kept: the start time decides.
    process.pid_file.write_text(f'{{"pid": {os.getpid()}, "created": 1.0}}')
    assert process.running_process() is None


def test_a_stepped_clock_does_not_disown_a_live_server(tmp_path: Path) -> None:
    process = ManagedProcess("sleeper", tmp_path)
    process.start([sys.executable, "-c", "import time; time.sleep(60)"], {}, tmp_path)
    try:
        # What the start time reads after the VM's clock was stepped by an hour.
        record = json.loads(process.pid_file.read_text())
        process.pid_file.write_text(json.dumps({**record, "created": record["created"] - 3600}))
        assert process.running_process() is not None
    finally:
        assert process.stop(timeout_s=10) is True


def test_kafka_version_is_pinned_in_the_pom() -> None:
    major, _, _ = kafka_version().split(".")
    assert major == "4"


def test_stack_refuses_remote_addresses(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="DIFFSTREAM_KAFKA_BOOTSTRAP"):
        LocalKafka(Settings(home=tmp_path, kafka_bootstrap="kafka.prod:9092"))
    with pytest.raises(StackError, match="DIFFSTREAM_S3_ENDPOINT"):
        LocalMinio(Settings(home=tmp_path, s3_endpoint="https://s3.amazonaws.test:443"))


def test_minio_credentials_must_meet_minios_minimums(tmp_path: Path) -> None:
    minio = LocalMinio(
        Settings(
            home=tmp_path,
            s3_endpoint=f"http://127.0.0.1:{free_port()}",
            s3_secret_key=pydantic.SecretStr("short"),
        )
    )
    with pytest.raises(ConfigurationError, match="DIFFSTREAM_S3_SECRET_KEY"):
        minio.start()


def test_downloads_live_under_the_artifacts_directory(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", artifacts_dir=tmp_path / "cache")
    assert LocalKafka(settings).libs.is_relative_to(tmp_path / "cache")
    assert LocalMinio(settings).binary.is_relative_to(tmp_path / "cache")
    assert LocalKafka(settings).data_dir.is_relative_to(tmp_path / "home")
