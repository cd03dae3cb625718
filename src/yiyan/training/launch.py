"""`yiyan train --nproc N CONFIG`: N training processes on this machine, started by PyTorch's own
launcher (`python -m torch.distributed.run`, i.e. torchrun) — the same as running

    torchrun --nnodes 1 --nproc-per-node N --rdzv-backend c10d --rdzv-endpoint 127.0.0.1:0 \\
        -m yiyan train CONFIG …

(a rendezvous on a free loopback port). The data is prepared here first, once, so that the
ranks do not wait for rank 0 to prepare a large corpus. SIGTERM is passed on to torchrun, which
passes it to every rank: they finish the current step, save a checkpoint and stop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import FrameType

import torch

from yiyan.config import Config
from yiyan.errors import YiyanError
from yiyan.prepare import is_prepared, prepare
from yiyan.runtime import resolve_device


def torchrun_command(nproc: int, rank_argv: list[str]) -> list[str]:
    """The torchrun command line that runs `yiyan <rank_argv>` in `nproc` processes here."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        f"--nproc-per-node={nproc}",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=127.0.0.1:0",  # a free port, IPv4 loopback ("localhost" may resolve to ::1)
        "-m",
        "yiyan",
        *rank_argv,
    ]


def launch(nproc: int, config: Config, rank_argv: list[str]) -> int:
    """Prepare the run if needed, then train with `nproc` ranks; returns torchrun's exit status."""
    if nproc < 1:
        raise YiyanError(f"--nproc must be >= 1, got {nproc}")
    device = resolve_device(config.training.device)
    if device.type == "cuda" and nproc > torch.cuda.device_count():
        raise YiyanError(f"--nproc {nproc}, but this machine has {torch.cuda.device_count()} GPU(s)")
    if not is_prepared(config.run_path):
        prepare(config)
    env = dict(os.environ)
    if device.type == "cpu" and "OMP_NUM_THREADS" not in env:  # torchrun would set 1
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    process = subprocess.Popen(torchrun_command(nproc, rank_argv), env=env)

    def forward(signum: int, frame: FrameType | None) -> None:
        process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    # Ctrl-C reaches torchrun directly (same process group); this process just waits for it
    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
