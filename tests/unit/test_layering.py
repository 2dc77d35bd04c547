"""Producers, sinks, the contract and the whole CLI load without torch (the inference extra)."""

from __future__ import annotations

from tests.unit.fresh_python import run_python

PROBE = """
import importlib, pkgutil, sys
for root in ("diffstream", "schemas", "producers", "sinks", "infra", "diffstream_cli"):
    package = importlib.import_module(root)
    for info in pkgutil.walk_packages(package.__path__, root + "."):
        if info.name != "diffstream_cli.__main__":
            importlib.import_module(info.name)
heavy = sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules)
print(",".join(heavy))
"""


def test_light_packages_import_without_torch() -> None:
    result = run_python(PROBE, timeout_s=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"imported {result.stdout.strip()}"
