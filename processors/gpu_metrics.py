"""GPU memory (torch) and utilisation (NVML) at scrape time; nothing at all without CUDA."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# Exported only where CUDA is present (a dashboard may name them on a CPU machine).
GPU_METRIC_NAMES = frozenset(
    {
        "diffstream_gpu_memory_allocated_bytes",
        "diffstream_gpu_memory_reserved_bytes",
        "diffstream_gpu_utilization_percent",
    }
)


class GpuCollector(Collector):
    """Per CUDA device: memory allocated and reserved by torch, utilisation from NVML."""

    def collect(self) -> Iterator[Metric]:
        import torch  # noqa: PLC0415  # loaded by the processor already

        if not torch.cuda.is_available():
            return
        devices = [str(i) for i in range(torch.cuda.device_count())]
        allocated = GaugeMetricFamily(
            "diffstream_gpu_memory_allocated_bytes",
            "GPU memory held by tensors (torch)",
            labels=["device"],
        )
        reserved = GaugeMetricFamily(
            "diffstream_gpu_memory_reserved_bytes",
            "GPU memory reserved by torch's caching allocator",
            labels=["device"],
        )
        for index, device in enumerate(devices):
            allocated.add_metric([device], torch.cuda.memory_allocated(index))
            reserved.add_metric([device], torch.cuda.memory_reserved(index))
        yield allocated
        yield reserved
        utilisation = _utilisation(len(devices))
        if utilisation is not None:
            yield utilisation


def _utilisation(count: int) -> GaugeMetricFamily | None:
    """NVML's busy share per device (0-100), or None where NVML cannot be read."""
    try:
        import pynvml  # noqa: PLC0415  # nvidia-ml-py: only on machines with a GPU

        pynvml.nvmlInit()
    except Exception as exc:  # ImportError, or pynvml.NVMLError without a driver
        log.debug("no GPU utilisation: %s", exc)
        return None
    family = GaugeMetricFamily(
        "diffstream_gpu_utilization_percent",
        "Share of the last sample period the GPU was busy (NVML)",
        labels=["device"],
    )
    for index in range(count):
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        family.add_metric([str(index)], pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    return family
