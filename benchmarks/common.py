"""Shared helpers for the benchmark scripts: machine description, matmul peak, child RSS."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    """fp32 GEMM throughput of this machine with the current thread count (best of `repeats`)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def run_child(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS of the child in GiB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak_kib <= before:
        print(
            "warning: an earlier child had a higher peak RSS; the figure is an upper bound", file=sys.stderr
        )
    return wall, peak_kib / 1024**2


# Peak dense bf16 tensor-core throughput (TFLOP/s, no sparsity) by GPU model, from the vendors'
# data sheets; GPUs without bf16 (V100, T4) list their fp16 tensor peak. Matched in this order
# against torch.cuda.get_device_name(), e.g. "NVIDIA H100 80GB HBM3" → H100 SXM; a GPU not listed
# gets no MFU (add it rather than guess).
GPU_PEAK_BF16_TFLOPS: list[tuple[str, str, float]] = [
    ("GB200", "GB200", 2500.0),
    ("B200", "B200", 2250.0),
    ("GH200", "GH200", 989.0),
    ("H200", "H200", 989.0),
    ("H100 PCIe", "H100 PCIe", 756.0),
    ("H100 NVL", "H100 NVL", 835.0),
    ("H100", "H100 SXM", 989.0),
    ("H800 PCIe", "H800 PCIe", 756.0),
    ("H800", "H800 SXM", 989.0),
    ("A100", "A100", 312.0),
    ("A800", "A800", 312.0),
    ("L40S", "L40S", 362.0),
    ("L40", "L40", 181.0),
    ("L4", "L4", 121.0),
    ("RTX 4090", "RTX 4090", 165.0),
    ("RTX 6000 Ada", "RTX 6000 Ada", 364.0),
    ("A6000", "RTX A6000", 155.0),
    ("V100", "V100 (fp16)", 125.0),
    ("T4", "T4 (fp16)", 65.0),
]


def gpu_peak_tflops(device_name: str) -> tuple[str, float] | None:
    """(model, peak dense bf16 TFLOP/s) of a CUDA device name, or None when not in the table."""
    for key, model, peak in GPU_PEAK_BF16_TFLOPS:
        if key.lower() in device_name.lower():
            return model, peak
    return None


def transformer_train_flops_per_target_token(
    d_model: int,
    ff_size: int,
    encoder_layers: int,
    decoder_layers: int,
    vocab: int,
    src_per_tgt: float = 1.0,
    mean_len: float = 16.0,
) -> float:
    """Model FLOPs of one training step per target token (forward 2×, backward 4× the weights a token
    passes through, plus attention scores): encoder weights count once per source token, decoder
    weights and the output projection once per target token; attention adds 2·2·d·len per layer and
    attention sub-layer (QKᵀ and AV), × 3 for forward + backward. Embedding lookups are free."""
    d, ff = d_model, ff_size
    enc_layer = 4 * d * d + 2 * d * ff
    dec_layer = 8 * d * d + 2 * d * ff
    weights = src_per_tgt * encoder_layers * enc_layer + decoder_layers * dec_layer + d * vocab
    attention = 3 * 4 * d * mean_len * (src_per_tgt * encoder_layers + 2 * decoder_layers)
    return 6 * weights + attention
