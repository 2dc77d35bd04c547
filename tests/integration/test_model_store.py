"""The model store on the real bucket and broker: push, alias, resolution in a running
processor, alias moves without a restart, refusals, and a corrupt object caught by sha256."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sklearn", reason="the digits model needs the inference extra")

from PIL import Image
from typer.testing import CliRunner

from diffstream.s3 import make_s3_client
from diffstream.settings import Settings
from processors.cli import app
from processors.engine.digits import PACKAGED_WEIGHTS
from processors.engine.digits.reading import read_digit
from processors.engine.engine import InferenceEngine
from processors.exceptions import ModelCorruptError
from processors.store import operations
from processors.store.bucket import ModelStore
from processors.store.refs import ModelRef
from processors.store.source import StoreModels
from processors.worker import StreamProcessor
from schemas.builders import new_request
from schemas.events import EventName
from schemas.topics import COMPLETED, FAILED, REQUESTS
from tests.integration.isolation import point_cli_at
from tests.integration.sinks_support import publish, read_committed, wait_for
from tests.integration.store_roles import processor_and_sink, with_own_cache

pytestmark = pytest.mark.integration

DIGIT = {"width": 64, "height": 64, "steps": 20, "guidance_scale": 7.5}
WEIGHTS = "unet/diffusion_pytorch_model.safetensors"


@pytest.fixture
def isolated(settings: Settings, tmp_path: Path) -> Settings:
    return with_own_cache(settings, tmp_path)


@pytest.fixture
def variant(tmp_path: Path) -> Path:
    """The packaged digits with another model card: the same weights, another revision."""
    copy = tmp_path / "digits-variant"
    shutil.copytree(PACKAGED_WEIGHTS, copy)
    (copy / "README.md").write_text("a variant of the packaged digits model\n")
    return copy


@pytest.fixture
def roles(isolated: Settings, engine: InferenceEngine) -> Iterator[StreamProcessor]:
    with processor_and_sink(isolated, engine) as processor:
        yield processor


def _digit_of(settings: Settings, completed: dict[str, Any]) -> int:
    bucket, _, key = completed["images"][0]["uri"].removeprefix("s3://").partition("/")
    response = make_s3_client(settings).get_object(bucket, key)
    try:
        return read_digit(Image.open(io.BytesIO(response.read())))
    finally:
        response.close()
        response.release_conn()


def test_requests_run_on_prod_and_follow_a_moved_alias_without_a_restart(
    isolated: Settings, variant: Path, roles: StreamProcessor
) -> None:
    first = operations.push(isolated, PACKAGED_WEIGHTS, "digits", alias="prod").manifest
    second = operations.push(isolated, variant, "digits").manifest
    assert first.revision != second.revision
    assert roles.models is not None
    wait_for(lambda: roles.models.aliases.revision("digits", "prod") == first.revision)

    seven = new_request("7", model="digits", seed=1, **DIGIT)
    publish(isolated, REQUESTS, EventName.REQUEST, [seven])
    [done] = read_committed(isolated, COMPLETED, expected=1, timeout_s=120)
    assert done["revision"] == first.revision
    assert _digit_of(isolated, done) == 7
    assert roles.models.cache.cached("digits", first.revision) is not None

    # Forced: this test is about following the alias, not about the evaluation guard.
    operations.set_alias(isolated, ModelRef("digits", second.revision), "prod", force=True)
    wait_for(lambda: roles.models.aliases.revision("digits", "prod") == second.revision)
    three = new_request("three", model="digits", seed=5, **DIGIT)
    pinned = new_request("4", model="digits", seed=3, revision=first.revision, **DIGIT)
    publish(isolated, REQUESTS, EventName.REQUEST, [three, pinned])
    events = read_committed(isolated, COMPLETED, expected=3, timeout_s=120)
    revisions = {str(e["request_id"]): e["revision"] for e in events}
    assert revisions[str(three["request_id"])] == second.revision
    assert revisions[str(pinned["request_id"])] == first.revision
    by_id = {str(e["request_id"]): e for e in events}
    assert _digit_of(isolated, by_id[str(three["request_id"])]) == 3


def test_a_corrupt_object_is_caught_by_its_sha256_and_not_loaded(
    isolated: Settings, roles: StreamProcessor
) -> None:
    # A revision of its own: the module's engine may hold the content hash's loaded already.
    pushed = operations.push(isolated, PACKAGED_WEIGHTS, "digits", "corrupt", alias="prod")
    manifest = pushed.manifest
    store = ModelStore(isolated)
    entry = next(f for f in manifest.files if f.path == WEIGHTS)
    flipped = bytearray((PACKAGED_WEIGHTS / WEIGHTS).read_bytes())
    flipped[-1] ^= 0xFF  # one byte of the last tensor: the same size, another sha256
    make_s3_client(isolated).put_object(
        isolated.s3_bucket,
        store.key("digits", manifest.revision, WEIGHTS),
        io.BytesIO(bytes(flipped)),
        entry.size,
    )
    assert roles.models is not None
    wait_for(lambda: roles.models.aliases.revision("digits", "prod") == manifest.revision)

    request = new_request("7", model="digits", seed=1, **DIGIT)
    publish(isolated, REQUESTS, EventName.REQUEST, [request])
    [failed] = read_committed(isolated, FAILED, expected=1, timeout_s=120)
    assert failed["error_code"] == "model_corrupt"
    assert WEIGHTS in failed["message"]
    assert "--overwrite" in failed["message"]
    assert roles.models.cache.cached("digits", manifest.revision) is None
    assert ("digits", manifest.revision) not in roles.engine.registry.loaded()

    # Pushing again with --overwrite repairs it; the next pull is checked and loads.
    operations.push(isolated, PACKAGED_WEIGHTS, "digits", "corrupt", overwrite=True)
    fresh = StoreModels(isolated)
    directory = fresh.fetch("digits", manifest.revision)
    assert directory is not None
    assert (directory / WEIGHTS).read_bytes() == (PACKAGED_WEIGHTS / WEIGHTS).read_bytes()


def test_a_corrupt_pull_raises_and_leaves_no_copy(isolated: Settings, tmp_path: Path) -> None:
    manifest = operations.push(isolated, PACKAGED_WEIGHTS, "digits").manifest
    store = ModelStore(isolated)
    make_s3_client(isolated).put_object(
        isolated.s3_bucket,
        store.key("digits", manifest.revision, "scheduler/scheduler_config.json"),
        io.BytesIO(b"{}"),
        2,
    )
    models = StoreModels(isolated)
    with pytest.raises(ModelCorruptError, match=r"scheduler/scheduler_config\.json"):
        models.fetch("digits", manifest.revision)
    assert models.cache.entries() == []


def test_the_models_commands(
    isolated: Settings, variant: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_cli_at(isolated, monkeypatch)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["models", *args])
        assert result.exit_code == code, result.output
        return result.output

    pushed = run("push", str(PACKAGED_WEIGHTS), "--name", "digits")
    # The push's progress bar shares the output (stderr): find the result line itself.
    found = re.search(r"digits@([0-9a-f]{12}): pushed", pushed)
    assert found is not None, pushed
    revision = found.group(1)
    assert "pushed 6 files" in pushed
    assert "already stored" in run("push", str(PACKAGED_WEIGHTS), "--name", "digits")
    taken = run("push", str(variant), "--name", "digits", "--revision", revision, code=2)
    assert "already holds other files" in taken
    run("push", str(variant), "--name", "digits", "--revision", "v2")

    assert f"digits@prod -> {revision}" in run("alias", f"digits@{revision}", "prod")
    listed = run("list")
    assert revision in listed
    assert "v2" in listed
    assert "prod" in listed
    shown = run("show", "digits@prod")
    assert '"pipeline_class": "DigitsPipeline"' in shown
    assert WEIGHTS in shown

    refused = run("rm", f"digits@{revision}", code=2)
    assert "digits@prod" in refused
    assert "move the alias first" in refused
    assert "no revision or alias 'nope'" in run("show", "digits@nope", code=2)
    assert "is not NAME@REV" in run("show", "digits", code=2)
    assert "push it first" in run("show", "tiny-sd@prod", code=2)

    unevaluated = run("alias", "digits@v2", "prod", code=2)
    assert "has no evaluation" in unevaluated
    assert "--force" in unevaluated
    run("alias", "digits@v2", "prod", "--force")
    assert "removed" in run("rm", f"digits@{revision}")
    assert revision not in run("list")
    assert "it pointed at v2" in run("unalias", "digits@prod")
    assert "removed digits@v2" in run("rm", "digits@v2")
    assert "no models in the store" in run("list")
