"""Pick the device and dtype from the settings and what this machine has."""

from __future__ import annotations

import gc
import logging

import torch

from processors.engine.settings import DeviceChoice, DtypeChoice
from processors.exceptions import EngineConfigurationError

logger = logging.getLogger(__name__)

_DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
}


def _mps_available() -> bool:
    return torch.backends.mps.is_available()


def resolve_device(choice: DeviceChoice) -> torch.device:
    """``auto`` is cuda, then mps, then cpu; an explicit choice must be available."""
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise EngineConfigurationError(
            "`device` is cuda but torch sees no CUDA device: set DIFFSTREAM_ENGINE__DEVICE=auto "
            "or cpu, or install a CUDA build of torch"
        )
    if choice == "mps" and not _mps_available():
        raise EngineConfigurationError(
            "`device` is mps but torch.backends.mps is not available: set "
            "DIFFSTREAM_ENGINE__DEVICE=auto or cpu"
        )
    return torch.device(choice)


def resolve_dtype(choice: DtypeChoice, device: torch.device) -> torch.dtype:
    """``auto`` is fp16 on cuda and mps, fp32 on cpu; bf16 must be supported by the device."""
    if choice == "auto":
        return torch.float16 if device.type in ("cuda", "mps") else torch.float32
    dtype = _DTYPES[choice]
    if dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise EngineConfigurationError(
            "`dtype` is bf16 but this GPU does not support bfloat16: set "
            "DIFFSTREAM_ENGINE__DTYPE=fp16 or auto"
        )
    if dtype != torch.float32 and device.type == "cpu":
        # Half precision works on cpu but many kernels are slow or upcast; say so once.
        logger.warning("dtype %s on cpu is usually slower than fp32", choice)
    return dtype


def free_device_memory(device: torch.device) -> None:
    """Return cached blocks to the device after models or tensors were dropped."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()
