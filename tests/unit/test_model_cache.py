"""The processors' model cache: bounded in bytes (least recently used out), one pull per
revision however many threads ask, nothing half-written left behind."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from processors.exceptions import ModelCorruptError, ModelRefError
from processors.store.cache import ModelCache
from processors.store.manifest import build_manifest, content_hash
from processors.store.refs import ModelRef, parse_ref


def _writer(size: int, calls: list[str], name: str = "x") -> object:
    def pull(directory: Path) -> None:
        calls.append(name)
        (directory / "weights.bin").write_bytes(b"w" * size)

    return pull


def test_the_least_recently_used_revision_goes_when_the_bytes_run_out(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path, max_bytes=2500)
    calls: list[str] = []
    first = cache.get("m", "r1", _writer(1000, calls))  # type: ignore[arg-type]
    time.sleep(0.02)
    cache.get("m", "r2", _writer(1000, calls))  # type: ignore[arg-type]
    time.sleep(0.02)
    assert cache.cached("m", "r1") == first  # r1 used again: r2 is now the oldest
    time.sleep(0.02)
    cache.get("m", "r3", _writer(1000, calls))  # type: ignore[arg-type]
    assert [(e.revision) for e in cache.entries()] == ["r1", "r3"]
    assert cache.size_bytes() <= 2500
    assert not (tmp_path / "m" / "r2").exists()
    assert calls == ["x", "x", "x"]


def test_a_revision_larger_than_the_bound_is_kept_alone(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path, max_bytes=500)
    calls: list[str] = []
    cache.get("m", "small", _writer(100, calls))  # type: ignore[arg-type]
    big = cache.get("m", "big", _writer(1000, calls))  # type: ignore[arg-type]
    assert [e.revision for e in cache.entries()] == ["big"]
    assert (big / "weights.bin").stat().st_size == 1000


def test_concurrent_gets_of_one_revision_pull_it_once(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path, max_bytes=10**6)
    started = threading.Event()
    calls: list[int] = []

    def slow_pull(directory: Path) -> None:
        calls.append(1)
        started.set()
        time.sleep(0.3)
        (directory / "weights.bin").write_bytes(b"w" * 10)

    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("m", "r", slow_pull)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 1
    assert len(results) == 8
    assert len(set(results)) == 1
    assert (results[0] / "weights.bin").read_bytes() == b"w" * 10


def test_two_caches_on_one_directory_pull_once(tmp_path: Path) -> None:
    """Two processes share a host's cache: the file lock makes the second wait, not pull."""
    calls: list[int] = []

    def slow_pull(directory: Path) -> None:
        calls.append(1)
        time.sleep(0.3)
        (directory / "weights.bin").write_bytes(b"w")

    caches = [ModelCache(tmp_path, 10**6), ModelCache(tmp_path, 10**6)]
    threads = [threading.Thread(target=c.get, args=("m", "r", slow_pull)) for c in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 1


def test_a_failed_pull_leaves_nothing_behind(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path, max_bytes=10**6)

    def corrupt(directory: Path) -> None:
        (directory / "weights.bin").write_bytes(b"half")
        raise ModelCorruptError("weights.bin has the wrong sha256")

    with pytest.raises(ModelCorruptError):
        cache.get("m", "r", corrupt)
    assert cache.cached("m", "r") is None
    assert not (tmp_path / "m" / "r").exists()
    assert list((tmp_path / ".staging").iterdir()) == []


def test_the_default_revision_is_the_content_hash(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "unet").mkdir(parents=True)
    (model / "model_index.json").write_text('{"_class_name": "DigitsPipeline"}')
    (model / "unet" / "w.safetensors").write_bytes(b"abc")
    (model / ".hidden").write_text("not part of the model")
    first = build_manifest(model, "m")
    again = build_manifest(model, "m")
    assert first.revision == again.revision == content_hash(first.files)
    assert [f.path for f in first.files] == ["model_index.json", "unet/w.safetensors"]
    assert first.pipeline_class == "DigitsPipeline"
    (model / "unet" / "w.safetensors").write_bytes(b"abd")
    assert build_manifest(model, "m").revision != first.revision


def test_model_references_are_checked() -> None:
    assert parse_ref("digits@prod") == ModelRef("digits", "prod")
    assert parse_ref("digits") == ModelRef("digits", None)
    with pytest.raises(ModelRefError, match="is not NAME@REV"):
        parse_ref("digits", need_revision=True)
    with pytest.raises(ModelRefError, match="ends in '@'"):
        parse_ref("digits@")
    with pytest.raises(ModelRefError, match="is not a model name"):
        parse_ref("../etc@prod")
    with pytest.raises(ModelRefError, match="is not a revision or alias"):
        parse_ref("digits@a/b")
