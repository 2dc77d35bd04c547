"""Evaluations recorded next to the candidate's manifest, under
``models/NAME/REV/evaluations/`` (the JSON report and the contact sheet), and the check a
guarded alias makes against them before it moves."""

from __future__ import annotations

import io
import logging

import pydantic

from diffstream.evaluation_settings import EvaluationRule
from diffstream.s3 import make_s3_client, read_object
from diffstream.settings import Settings
from processors.exceptions import PromotionRefusedError
from processors.store.bucket import store_errors
from processors.store.evaluation_figures import Check, Evaluation
from processors.store.evaluation_rule import failing, judge
from processors.store.manifest import Manifest

log = logging.getLogger(__name__)

FOLDER = "evaluations"


def evaluation_key(settings: Settings, name: str, revision: str, file: str) -> str:
    """The object key of one file of a revision's evaluations."""
    return f"{settings.models.prefix}/{name}/{revision}/{FOLDER}/{file}"


def record(settings: Settings, evaluation: Evaluation, sheet_png: bytes) -> list[str]:
    """Write the report and the sheet; their ``s3://`` URIs."""
    client = make_s3_client(settings, timeout_s=30.0)
    uris = []
    stem = evaluation.evaluation_id
    files = [
        (f"{stem}.json", evaluation.to_json(), "application/json"),
        (f"{stem}.png", sheet_png, "image/png"),
    ]
    with store_errors(settings, f"recording the evaluation {stem}"):
        for file, data, kind in files:
            key = evaluation_key(settings, evaluation.name, evaluation.candidate, file)
            client.put_object(
                settings.s3_bucket, key, io.BytesIO(data), len(data), content_type=kind
            )
            uris.append(f"s3://{settings.s3_bucket}/{key}")
    return uris


def evaluations(settings: Settings, name: str, revision: str) -> list[Evaluation]:
    """Every readable evaluation of ``name@revision``, oldest first."""
    client = make_s3_client(settings, timeout_s=30.0)
    prefix = evaluation_key(settings, name, revision, "")
    found: list[Evaluation] = []
    with store_errors(settings, f"reading the evaluations of {name}@{revision}"):
        if not client.bucket_exists(settings.s3_bucket):
            return []
        for item in client.list_objects(settings.s3_bucket, prefix=prefix, recursive=True):
            key = item.object_name or ""
            if not key.endswith(".json"):
                continue
            try:
                found.append(Evaluation.from_json(read_object(client, settings.s3_bucket, key)))
            except pydantic.ValidationError as exc:
                log.warning("skipping the malformed evaluation %s: %s", key, exc)
    return sorted(found, key=lambda e: e.created_at)


def check_promotion(
    settings: Settings, manifest: Manifest, alias: str, current: str | None
) -> None:
    """Raise PromotionRefusedError unless ``alias`` may point at ``manifest``'s revision:
    unguarded aliases, a first pointing (nothing to compare with) and a revision it points
    at already always may; otherwise one recorded evaluation must pass the rule in force."""
    rule: EvaluationRule = settings.models.evaluation
    if alias not in rule.guarded_aliases or current in (None, manifest.revision):
        return
    ref = f"{manifest.name}@{manifest.revision}"
    again = (
        f"diffstream models evaluate {ref} --baseline {manifest.name}@{alias} "
        "--sample 200 --from -1h"
    )
    recorded = evaluations(settings, manifest.name, manifest.revision)
    if not recorded:
        raise PromotionRefusedError(
            f"{manifest.name}@{alias} stays at {current}: {ref} has no evaluation. Evaluate "
            f"it first ({again}), or pass --force to move the alias anyway"
        )
    judged: list[tuple[Evaluation, list[Check]]] = [
        (e, judge(e.comparison, rule)) for e in recorded
    ]
    if any(not failing(checks) for _, checks in judged):
        return
    latest, checks = judged[-1]
    reasons = "; ".join(f"{c.rule} ({c.setting}): {c.text}" for c in failing(checks))
    raise PromotionRefusedError(
        f"{manifest.name}@{alias} stays at {current}: no evaluation of {ref} passes the rule. "
        f"The latest ({latest.evaluation_id}, against {manifest.name}@{latest.baseline}) "
        f"fails {reasons}. Fix the candidate and evaluate it again ({again}), change the "
        "limit, or pass --force to move the alias anyway"
    )
