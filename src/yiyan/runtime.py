"""Where and how computation runs: device, precision, threads, seeds."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch

from yiyan.errors import YiyanError


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when available, else CPU; 'cuda' without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise YiyanError("device 'cuda' requested but no CUDA GPU is available (use device: auto or cpu)")
    return torch.device(name)


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `precision`, or None for plain fp32.

    auto: bf16 on GPUs that support it, fp16 (with a gradient scaler) on older GPUs, fp32 on CPU:
    bf16 autocast was no faster than fp32 for the reference model even on a CPU with AMX (0.90x and
    1.10x, benchmarks/precision_cpu.py) and is slower without AMX. See docs/scaling.md.
    """
    if name == "fp32":
        return None
    if name == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise YiyanError("precision bf16 requested but this GPU does not support bfloat16 (use fp16)")
        return torch.bfloat16
    if name == "fp16":
        if device.type != "cuda":
            raise YiyanError("precision fp16 needs a CUDA GPU (use bf16 or fp32 on CPU)")
        return torch.float16
    if name != "auto":
        raise YiyanError(f"unknown precision {name!r}: use auto, fp32, bf16 or fp16")
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None


def precision_name(dtype: torch.dtype | None) -> str:
    """'fp32', 'bf16' or 'fp16' for an autocast dtype from `resolve_precision`."""
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def cpu_has_amx_bf16() -> bool:
    """Whether this CPU has AMX tiles (Intel Sapphire Rapids and later): oneDNN then runs bf16
    matrix products on them, several times faster than fp32."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool(probe()) if probe is not None else False
    except RuntimeError:  # pragma: no cover - a torch build without the probe
        return False


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[object]:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def fused_adamw_available(device: torch.device) -> bool:
    """Whether `torch.optim.AdamW(fused=True)` runs on `device` (CUDA always; CPU from torch 2.4)."""
    if device.type == "cuda":
        return True
    major, minor = (int(part) for part in torch.__version__.split(".")[:2])
    return device.type == "cpu" and (major, minor) >= (2, 4)


def set_threads(num_threads: int) -> None:
    if num_threads > 0:
        torch.set_num_threads(num_threads)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
