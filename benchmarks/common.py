"""Shared helpers for the benchmark scripts: the result file every benchmark writes (machine,
versions, command, date, results), the one definition of "target tokens", the fp32 matmul peak,
child RSS, and the model-FLOP count.

Every benchmark ends with `write_result(name, results)`, which writes
`benchmarks/results/<name>.json` (committed, so every figure in the docs can be audited):

    {"benchmark": name, "date": UTC ISO time, "command": the exact command line,
     "machine": {cpu, cores, flags, memory, matmul_peak_gflops, threads ...},
     "versions": {python, torch, yiyan commit + dirty flag, sacrebleu, ...}, "results": {...}}

`bench-out/` (ignored) is only for scratch artifacts: run directories, logs, peers' venvs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import os
import platform
import re
import resource
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "benchmarks" / "results"
# Packages whose versions every result records when installed (peers add theirs via `versions=`).
RECORDED_PACKAGES = ("torch", "sacrebleu", "sentencepiece", "ctranslate2", "numpy")
CPU_FLAGS = {  # reported name → /proc/cpuinfo flag
    "avx2": "avx2",
    "avx512": "avx512f",
    "avx512_vnni": "avx512_vnni",
    "avx_vnni": "avx_vnni",
    "amx": "amx_tile",
}
EOS_PIECE = "</s>"


# ------------------------------------------------------------------ "target tokens"


def target_tokens(piece_counts: Iterable[int]) -> int:
    """THE definition of "target tokens" in every figure: for each sentence, its non-padding target
    pieces plus one EOS. `piece_counts` are per-sentence piece counts *without* EOS.

    Training: the pieces of the reference (the `tgt_out` row is ids + EOS, so the trainer's
    `(tgt_out != PAD).sum()` is exactly this). Decoding: the generated pieces (EOS stripped, see
    `generated_pieces`) + 1 — the EOS step costs a decoder step like any other. Peers count the
    same way (Joey: `(trg != pad).sum()` of its EOS-terminated targets; Marian: labels ≠ -100,
    which end with </s>)."""
    return sum(int(n) + 1 for n in piece_counts)


def generated_pieces(pieces: Sequence[str]) -> int:
    """Pieces of one generated translation without its final EOS (if the model produced one)."""
    return len(pieces) - 1 if pieces and pieces[-1] == EOS_PIECE else len(pieces)


# ------------------------------------------------------------------ machine and versions


def _cpuinfo() -> tuple[str, set[str]]:
    """(CPU model name, flags of the first CPU) from /proc/cpuinfo; the platform's name elsewhere."""
    model, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return model or platform.processor() or platform.machine(), flags


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def machine(matmul_peak: float | None = None) -> dict[str, Any]:
    """This machine: CPU model, cores, SIMD/matrix flags, memory, torch/OMP threads and the fp32
    matmul peak measured now (or `matmul_peak` when the caller measured it before its run)."""
    import torch  # here, not at the top: decoding workers that must not load torch import this module

    model, flags = _cpuinfo()
    peak = matmul_peak if matmul_peak is not None else matmul_peak_gflops()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "flags": {name: flag in flags for name, flag in CPU_FLAGS.items()},
        "memory_gib": _memory_gib(),
        "matmul_peak_gflops": round(peak, 1),
        "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def versions(extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Python, torch, yiyan's git commit (+ whether the tree had uncommitted changes to tracked
    files), the recorded packages that are installed, and `extra` (peers: "joeynmt": "2.3.0")."""
    found: dict[str, Any] = {"python": platform.python_version()}
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    found["yiyan_commit"] = commit
    found["yiyan_dirty"] = bool(status) if status is not None else None
    for package in RECORDED_PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    found.update(extra or {})
    return found


def write_result(
    name: str,
    results: Any,
    *,
    argv: Sequence[str] | None = None,
    extra_versions: Mapping[str, str] | None = None,
    matmul_peak: float | None = None,
    results_dir: Path | None = None,
) -> Path:
    """Write `benchmarks/results/<name>.json` atomically and return its path.

    `argv`: the exact command line (default: this interpreter's, `sys.orig_argv`);
    `extra_versions`: versions of peers or engines the benchmark used beyond the recorded ones;
    `matmul_peak`: GFLOP/s measured by the caller before its run (else measured here, ≈ 1 s)."""
    from yiyan.io import write_json

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ValueError(f"result name {name!r}: use letters, digits, '.', '_' and '-' only")
    command = list(argv) if argv is not None else list(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    record = {
        "benchmark": name,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(command),
        "machine": machine(matmul_peak),
        "versions": versions(extra_versions),
        "results": results,
    }
    path = (results_dir or RESULTS_DIR) / f"{name}.json"
    write_json(path, record)
    print(f"wrote {path}", file=sys.stderr)
    return path


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    """fp32 GEMM throughput of this machine with the current thread count (best of `repeats`)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def _default_sigint() -> None:
    """In the child before exec: SIGINT back to its default action. A script started in the
    background by a non-interactive shell (`nohup run_all.sh &`) inherits SIGINT ignored, and an
    ignored signal stays ignored across exec: Python then installs no KeyboardInterrupt handler, and
    a toolkit that saves its model on Ctrl-C (Joey NMT) would ignore the stop signal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Child:
    """A child process in its own process group (session), so that it and everything it starts
    (data-loader workers, tokenizer threads, shells) can be signalled and stopped together; its
    exit is collected with wait4, which gives the peak RSS of that child alone (its own
    `ru_maxrss`, not the max over all children as RUSAGE_CHILDREN would)."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        log: Path | None = None,
    ) -> None:
        self.command = list(command)
        self.log = log
        out = open(log, "wb") if log is not None else None  # noqa: SIM115 (closed below)
        try:
            self.proc = subprocess.Popen(
                self.command,
                cwd=cwd,
                env={**os.environ, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT if out is not None else None,
                start_new_session=True,  # new session → new process group, id = pid
                preexec_fn=_default_sigint,
            )
        finally:
            if out is not None:
                out.close()
        self.started = time.monotonic()
        self.exit_code: int | None = None
        self.peak_rss_gib: float | None = None
        self.stopped_by: str | None = None  # the signal that ended it, when we had to send one

    def poll(self) -> bool:
        """True once the child has exited (and was reaped)."""
        if self.exit_code is not None:
            return True
        pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
        if pid == 0:
            return False
        self._reaped(status, usage)
        return True

    def _reaped(self, status: int, usage: resource.struct_rusage) -> None:
        self.exit_code = os.waitstatus_to_exitcode(status)
        self.proc.returncode = self.exit_code
        self.peak_rss_gib = round(usage.ru_maxrss / 1024**2, 3)  # Linux: KiB
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # leftovers of the group (orphaned workers)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` seconds (None: forever); True once exited."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.poll():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def stop(self, grace_s: float = 120.0) -> str:
        """Stop the whole process group: SIGINT (the toolkit's own "interrupt and save"), then
        SIGTERM, then SIGKILL, each after `grace_s` seconds without exit. Returns the signal name
        that ended it ("exited" when it had already ended)."""
        for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGTERM, grace_s), (signal.SIGKILL, None)):
            if self.poll():
                return self.stopped_by or "exited"
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)
            self.stopped_by = sig.name
            if self.wait(wait_s):
                break
        return self.stopped_by or "exited"

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.poll():  # leaving on an error or Ctrl-C: never leave a peer training
            self.stop(grace_s=10.0)


def run_child(
    command: list[str], env: dict[str, str] | None = None, log: Path | None = None
) -> tuple[float, float]:
    """Run a command to its end in its own process group; return (wall seconds, its peak RSS in GiB)."""
    with Child(command, env=env, log=log) as child:
        child.wait()
    if child.exit_code != 0:
        where = f"; see {log}" if log is not None else ""
        raise SystemExit(f"{shlex.join(command)} failed with exit code {child.exit_code}{where}")
    return time.monotonic() - child.started, child.peak_rss_gib or 0.0


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


def profile_parser(description: str | None, run_help: str, default_name: str) -> Any:
    """The arguments every profile_*.py script takes: a run, --threads, --name."""
    import argparse

    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", help=run_help)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default=default_name, help="result name: benchmarks/results/NAME.json")
    return parser


def self_cpu_shares(
    events: Iterable[Any], groups: Mapping[str, tuple[str, ...]], other: str, *, extra: str | None = None
) -> tuple[dict[str, float], float]:
    """Each group's share of the self CPU time of torch.profiler's `events` (key_averages()), and
    the total in µs. An operator goes to the first group one of whose keys occurs in its
    lower-cased name, else to `other`; only aten operators count (and those naming `extra`)."""
    totals: dict[str, float] = {}
    for event in events:
        if not (event.key.startswith("aten::") or (extra and extra in event.key)):
            continue
        lowered = event.key.lower()
        group = next((name for name, keys in groups.items() if any(key in lowered for key in keys)), other)
        totals[group] = totals.get(group, 0.0) + event.self_cpu_time_total
    whole = sum(totals.values())
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    return {group: round(micros / whole, 4) for group, micros in ranked}, whole


def print_shares(shares: Mapping[str, float]) -> None:
    print("| where | share of self CPU time |\n|---|---:|")
    for group, share in shares.items():
        print(f"| {group} | {share:.1%} |")


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
