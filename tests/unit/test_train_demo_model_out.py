"""``train-demo-model`` writes under MODELS_DIR by default and never over the packaged weights."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from processors.cli import app
from processors.engine.digits import PACKAGED_WEIGHTS


def _digest(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_training_leaves_the_packaged_weights_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIFFSTREAM_HOME", str(tmp_path))
    monkeypatch.delenv("DIFFSTREAM_ENGINE__MODELS_DIR", raising=False)
    before = _digest(PACKAGED_WEIGHTS)
    assert before, "the packaged weights are missing"

    result = CliRunner().invoke(app, ["train-demo-model", "--steps", "1", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "models" / "digits" / "model_index.json").is_file()
    assert _digest(PACKAGED_WEIGHTS) == before

    refused = CliRunner().invoke(app, ["train-demo-model", "--out", str(PACKAGED_WEIGHTS)])
    assert refused.exit_code == 2
    assert "is the packaged weights" in " ".join(refused.output.split())
    assert _digest(PACKAGED_WEIGHTS) == before
