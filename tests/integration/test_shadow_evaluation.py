"""Shadow evaluation on the real broker and bucket: real requests run on ``digits@prod``, a
barely trained candidate replays a sample of them beside prod in the batch lane, the report
shows it worse, and ``prod`` refuses it until forced."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sklearn", reason="the digits model needs the inference extra")

from PIL import Image
from typer.testing import CliRunner

from diffstream.s3 import make_s3_client, split_uri
from diffstream.settings import Settings
from diffstream_cli.app import app
from infra.evaluation.exceptions import EvaluationError
from infra.evaluation.run import EvaluationPlan, evaluate
from processors.engine.digits import PACKAGED_WEIGHTS
from processors.engine.engine import InferenceEngine
from processors.exceptions import PromotionRefusedError
from processors.store import operations
from processors.store.evaluation_figures import Evaluation
from processors.store.evaluation_store import evaluations
from processors.store.manifest import build_manifest
from processors.store.refs import ModelRef
from processors.worker import StreamProcessor
from schemas.builders import new_request
from schemas.events import EventName
from schemas.topics import COMPLETED, REQUESTS, REQUESTS_BATCH
from tests.integration.isolation import point_cli_at
from tests.integration.sinks_support import publish, read_committed, wait_for
from tests.integration.store_roles import processor_and_sink, with_own_cache

pytestmark = pytest.mark.integration

DIGIT = {"width": 64, "height": 64, "steps": 20, "guidance_scale": 7.5}
PROMPTS = [*(str(d) for d in range(10)), "seven", "a handwritten 3"]
# Enough optimiser steps to write a loadable pipeline, far too few to draw digits.
CANDIDATE_STEPS = 30


@pytest.fixture
def isolated(settings: Settings, tmp_path: Path) -> Settings:
    return with_own_cache(settings, tmp_path)


@pytest.fixture
def roles(isolated: Settings, engine: InferenceEngine) -> Iterator[StreamProcessor]:
    with processor_and_sink(isolated, engine) as processor:
        yield processor


def _train(out: Path) -> Path:
    """``diffstream train-demo-model`` in a process of its own (it sets torch's threads)."""
    command = [sys.executable, "-m", "diffstream_cli", "train-demo-model"]
    options = ["--steps", str(CANDIDATE_STEPS), "--out", str(out), "--threads", "1"]
    done = subprocess.run(
        [*command, *options], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return out


def test_a_barely_trained_candidate_is_shown_worse_and_kept_out_of_prod(
    isolated: Settings, roles: StreamProcessor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prod = operations.push(isolated, PACKAGED_WEIGHTS, "digits", alias="prod").manifest
    assert roles.models is not None
    wait_for(lambda: roles.models.aliases.revision("digits", "prod") == prod.revision)
    # Real traffic: half with a seed, half without (the evaluation gives those one per pair).
    traffic = [
        new_request(p, model="digits", seed=i if i % 2 else None, **DIGIT)
        for i, p in enumerate(PROMPTS)
    ]
    publish(isolated, REQUESTS, EventName.REQUEST, traffic)
    served = read_committed(isolated, COMPLETED, expected=len(traffic), timeout_s=180)
    assert {e["revision"] for e in served} == {prod.revision}

    packaged = build_manifest(PACKAGED_WEIGHTS, "digits")
    candidate_dir = _train(tmp_path / "candidate")
    assert build_manifest(PACKAGED_WEIGHTS, "digits").same_content(packaged)
    assert (candidate_dir / "model_index.json").is_file()
    operations.push(isolated, candidate_dir, "digits", "cand")

    point_cli_at(isolated, monkeypatch)
    runner = CliRunner()
    sheet = tmp_path / "sheet.png"
    args = ["digits@cand", "--baseline", "digits@prod", "--sample", "200", "--from", "-1h"]
    result = runner.invoke(app, ["models", "evaluate", *args, "--sheet", str(sheet)])
    assert result.exit_code == 1, result.output  # 1: the evaluation ran and failed
    assert "FAIL min_recognised_ratio" in result.output

    [report] = evaluations(isolated, "digits", "cand")
    _check_figures(isolated, report, traffic, prod.revision)
    _check_replays(isolated, report, traffic, served, prod.revision)

    png = Image.open(io.BytesIO(sheet.read_bytes()))
    assert png.width > 2 * 96
    uri = next(u for u in _uris(result.output) if u.endswith(".png"))
    bucket, key = split_uri(uri)
    assert make_s3_client(isolated).stat_object(bucket, key).size == len(sheet.read_bytes())

    refused = runner.invoke(app, ["models", "alias", "digits@cand", "prod"])
    assert refused.exit_code == 2, refused.output
    for part in ("min_recognised_ratio", "MIN_RECOGNISED_RATIO", "--force", "stays at"):
        assert part in refused.output.replace("\n", " ")
    assert operations.read_aliases(isolated).revision("digits", "prod") == prod.revision
    forced = runner.invoke(app, ["models", "alias", "digits@cand", "prod", "--force"])
    assert forced.exit_code == 0, forced.output
    assert operations.read_aliases(isolated).revision("digits", "prod") == "cand"


def test_the_same_weights_under_another_revision_pass_and_take_prod(
    isolated: Settings, roles: StreamProcessor, tmp_path: Path
) -> None:
    # Four pairs on a shared machine: the latency ratio would judge the load, not the model.
    rule = isolated.models.evaluation.model_copy(update={"max_latency_ratio": 0})
    models = isolated.models.model_copy(update={"evaluation": rule})
    isolated = isolated.model_copy(update={"models": models})
    prod = operations.push(isolated, PACKAGED_WEIGHTS, "digits", alias="prod").manifest
    copy = tmp_path / "digits-copy"
    shutil.copytree(PACKAGED_WEIGHTS, copy)
    (copy / "README.md").write_text("the packaged digits under another revision\n")
    same = operations.push(isolated, copy, "digits", "copy").manifest
    assert roles.models is not None
    wait_for(lambda: roles.models.aliases.revision("digits", "prod") == prod.revision)
    traffic = [new_request(p, model="digits", **DIGIT) for p in PROMPTS[:6]]
    publish(isolated, REQUESTS, EventName.REQUEST, traffic)
    read_committed(isolated, COMPLETED, expected=len(traffic), timeout_s=180)
    with pytest.raises(PromotionRefusedError, match="has no evaluation"):
        operations.push(isolated, copy, "digits", "copy", alias="prod")

    plan = EvaluationPlan(ModelRef("digits", "copy"), ModelRef("digits", "prod"), sample=4)
    run = evaluate(isolated, plan)
    comparison = run.evaluation.comparison
    assert run.evaluation.passed, run.evaluation.checks
    assert "max_latency_ratio" not in {c.rule for c in run.evaluation.checks}
    assert len(comparison.pairs) == 4  # a sample of the 6
    # The same weights and the same seeds draw the same pictures, pixel for pixel.
    assert comparison.pixel_difference_mean == 0.0
    assert comparison.ssim_mean == pytest.approx(1.0)
    assert comparison.candidate.recognised_share == comparison.baseline.recognised_share
    operations.push(isolated, copy, "digits", "copy", alias="prod")  # no --force needed
    assert operations.read_aliases(isolated).revision("digits", "prod") == same.revision

    empty = EvaluationPlan(ModelRef("digits", "copy"), ModelRef("digits", "prod"), start="latest")
    with pytest.raises(EvaluationError, match=r"no requests for model 'digits'.*widen the window"):
        evaluate(isolated, empty)


def _check_figures(
    isolated: Settings, report: Evaluation, traffic: list[dict[str, Any]], prod: str
) -> None:
    """The report holds every pair and shows the candidate worse than prod."""
    comparison = report.comparison
    assert (report.baseline, report.candidate) == (prod, "cand")
    assert report.window.found == len(traffic)
    assert len(comparison.pairs) == len(traffic)
    # Lineage: every pair replays one of the published requests.
    assert {p.original_id for p in comparison.pairs} == {str(r["request_id"]) for r in traffic}
    assert comparison.baseline.failures == comparison.candidate.failures == 0
    base_share, cand_share = (
        comparison.baseline.recognised_share,
        comparison.candidate.recognised_share,
    )
    assert base_share is not None
    assert cand_share is not None
    assert base_share >= 0.75
    assert cand_share < base_share * isolated.models.evaluation.min_recognised_ratio
    assert comparison.ssim_mean is not None
    assert comparison.ssim_mean < 0.9
    assert comparison.pixel_difference_mean is not None
    assert comparison.pixel_difference_mean > 0.01
    assert comparison.baseline.latency_p95_s is not None
    assert not report.passed


def _check_replays(
    isolated: Settings,
    report: Evaluation,
    traffic: list[dict[str, Any]],
    served: list[dict[str, Any]],
    prod: str,
) -> None:
    """Both sides ran pinned, in the batch lane; the baseline's replays redraw the originals."""
    comparison = report.comparison
    batch = read_committed(isolated, REQUESTS_BATCH, expected=2 * len(traffic), timeout_s=30)
    sides = {p.baseline_request_id for p in comparison.pairs}
    sides |= {p.candidate_request_id for p in comparison.pairs}
    assert {str(r["request_id"]) for r in batch} == sides
    published = {str(r["request_id"]) for r in traffic}
    assert {str(r["lineage"]["original_request_id"]) for r in batch} == published
    assert {r["lane"] for r in batch} == {"batch"}
    replayed = read_committed(isolated, COMPLETED, expected=3 * len(traffic), timeout_s=30)
    by_id = {str(e["request_id"]): e for e in replayed}
    for pair in comparison.pairs:
        assert by_id[pair.baseline_request_id]["revision"] == prod
        assert by_id[pair.candidate_request_id]["revision"] == "cand"
    # Baseline replays draw what the originals drew: the same weights and the same seeds.
    originals = {str(e["request_id"]): e for e in served}
    for request in (r for r in traffic if r["seed"] is not None):
        twin = next(p for p in comparison.pairs if p.original_id == str(request["request_id"]))
        assert twin.seed == request["seed"]
        drawn = _pixels(isolated, originals[str(request["request_id"])])
        assert drawn == _pixels(isolated, by_id[twin.baseline_request_id])


def _pixels(settings: Settings, completed: dict[str, Any]) -> bytes:
    # Pixels, not PNG bytes: the PNG's text chunks name the request.
    bucket, key = split_uri(completed["images"][0]["uri"])
    response = make_s3_client(settings).get_object(bucket, key)
    try:
        return Image.open(io.BytesIO(response.read())).convert("RGB").tobytes()
    finally:
        response.close()
        response.release_conn()


def _uris(output: str) -> list[str]:
    return [word for word in output.split() if word.startswith("s3://")]
