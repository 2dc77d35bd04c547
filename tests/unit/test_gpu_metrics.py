"""GPU metrics: absent, without error, where CUDA is not available."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from processors.gpu_metrics import GpuCollector

torch = pytest.importorskip("torch")


def test_no_cuda_no_gpu_metrics_and_no_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the absent path is for CPU machines")
    registry = CollectorRegistry()
    registry.register(GpuCollector())
    assert list(GpuCollector().collect()) == []
    assert b"diffstream_gpu" not in generate_latest(registry)


def test_with_cuda_memory_is_reported() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no GPU here")
    names = {family.name for family in GpuCollector().collect()}
    assert {
        "diffstream_gpu_memory_allocated_bytes",
        "diffstream_gpu_memory_reserved_bytes",
    } <= names
