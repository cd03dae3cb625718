"""Where the time of a training step goes: torch.profiler over real Tatoeba batches.

    python benchmarks/profile_step.py runs/bench-tatoeba-small --steps 10

Loads a prepared run's config and training data, builds its model, runs a few full training
updates exactly as the trainer does (forward, logits on real target positions, label-smoothed
loss, backward, clipping, AdamW), and prints the operators by self CPU time, grouped into
matmul / attention / softmax+loss / dropout / norm / optimizer / other.

It then splits the distance between the measured throughput and the machine's matmul peak
(`share_of_matmul_peak`: model FLOPs of the real target tokens per second / the peak) into three
factors whose product it is, up to the profiler's overhead:

    share ≈ useful / executed  ×  GEMM speed / peak  ×  GEMM time / step time

- `useful_share_of_gemm_flops`: the model FLOPs of the real tokens (common.py's count) over the
  FLOPs the GEMMs executed (padding, and the projections of the whole padded batch, are executed
  and not useful);
- `gemm_share_of_peak`: the GEMMs' FLOPs over their time in the step (the profiler's shapes and
  self times), over the peak; `gemm_share_of_peak_isolated` times every one of those shapes alone
  with `torch.mm`/`torch.bmm`: what the GEMM library itself reaches at this model's sizes;
- `gemm_share_of_step`: the GEMMs' share of the step's self CPU time.

`ceiling_if_only_gemms` = useful FLOPs / (the isolated GEMM time × peak): the share a step would
reach if nothing but its GEMMs took time.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).parent))
from common import (
    matmul_peak_gflops,
    print_shares,
    profile_parser,
    self_cpu_shares,
    transformer_train_flops_per_target_token,
    write_result,
)
from yiyan.data.batching import TokenBudgetBatchSampler, collate
from yiyan.data.binarize import BinarizedDataset
from yiyan.models import build_model
from yiyan.runtime import fused_adamw_available
from yiyan.training.loss import projected_loss
from yiyan.translator import load_run_config

OTHER = "other (copies, masks, elementwise, autograd bookkeeping)"
GROUPS = {
    "matmul (linear layers, output projection)": ("addmm", "mm", "bmm", "matmul", "linear"),
    "attention kernel (SDPA)": ("scaled_dot_product", "_flash", "attention"),
    "softmax / loss": ("log_softmax", "softmax", "nll", "gather", "logsumexp"),
    "dropout": ("dropout", "bernoulli", "native_dropout", "random_", "_cheapmask"),
    "layer norm": ("layer_norm",),
    "optimizer (AdamW) + clipping": (
        "adam",
        "_foreach",
        "norm",
        "lerp",
        "addcdiv",
        "addcmul",
        "sqrt",
    ),
    "embedding": ("embedding",),
}


GEMM_OPS = ("aten::mm", "aten::addmm", "aten::bmm")


def gemm_dims(op: str, shapes: list[list[int]]) -> tuple[int, int, int, int]:
    """(batch, m, k, n) of a GEMM from the profiler's input shapes: mm(a, b), addmm(bias, a, b),
    bmm(a, b)."""
    a, b = (shapes[1], shapes[2]) if op == "aten::addmm" else (shapes[0], shapes[1])
    if op == "aten::bmm":
        return a[0], a[1], a[2], b[2]
    return 1, a[0], a[1], b[1]


def isolated_gemm_seconds(batch: int, m: int, k: int, n: int, repeats: int = 5) -> float:
    """Best time of one fp32 GEMM of this shape on random data, alone."""
    a = torch.randn(batch, m, k) if batch > 1 else torch.randn(m, k)
    b = torch.randn(batch, k, n) if batch > 1 else torch.randn(k, n)
    product = torch.bmm if batch > 1 else torch.mm
    product(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = profile_parser(__doc__, "a prepared run (its config and data/bin are used)", "profile-step")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    peak = matmul_peak_gflops()
    torch.manual_seed(1)
    config = load_run_config(args.run_dir)
    data = BinarizedDataset(Path(args.run_dir) / "data" / "bin", "train")
    sampler = TokenBudgetBatchSampler(
        data.src_lengths, data.tgt_lengths, config.training.batch_tokens, seed=1
    )
    sampler.set_epoch(0)
    model = build_model(config.model, data.meta["src_vocab_size"], data.meta["tgt_vocab_size"]).train()
    fused = fused_adamw_available(torch.device("cpu")) or None  # as the trainer builds it
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9, fused=fused)
    batches = [collate(data, indices) for _, indices in zip(range(args.steps + 2), sampler)]

    def update(batch: object) -> None:
        hidden = model(batch.src, batch.src_mask, batch.tgt_in)  # type: ignore[attr-defined]
        keep = batch.tgt_out != 0  # type: ignore[attr-defined]
        loss, _ = projected_loss(hidden[keep], model.output_projection, batch.tgt_out[keep], 0.1)  # type: ignore[attr-defined]
        (loss / keep.sum()).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for batch in batches[:2]:  # warm-up
        update(batch)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for batch in batches[2:]:
            update(batch)
    wall = []  # the same updates again, without the profiler
    for batch in batches[2:]:
        start = time.perf_counter()
        update(batch)
        wall.append(time.perf_counter() - start)
    shares, whole = self_cpu_shares(prof.key_averages(), GROUPS, OTHER, extra="Optimizer")
    print(f"{args.steps} updates, {config.training.batch_tokens}-token batches, {args.threads} threads")
    print_shares(shares)
    print()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    ceiling = throughput_factors(prof, batches[2:], config, data, whole, sum(wall), peak)
    print(f"matmul peak {peak:.1f} GFLOP/s; " + ", ".join(f"{k} {v}" for k, v in ceiling.items()))
    write_result(
        args.name,
        {
            "run": args.run_dir,
            "updates": args.steps,
            "threads": args.threads,
            "batch_tokens": config.training.batch_tokens,
            "share_of_self_cpu_time": shares,
            "seconds_per_update_median": round(statistics.median(wall), 4),
            "throughput_factors": ceiling,
        },
        matmul_peak=peak,
    )


def throughput_factors(
    prof: Any,
    batches: list[Any],
    config: Any,
    data: BinarizedDataset,
    whole_us: float,
    wall_s: float,
    peak: float,
) -> dict[str, float]:
    """The three factors of the share of the matmul peak (module docstring), from the profiled
    updates (`whole_us`: their self CPU time) and the same updates' wall time without the profiler."""
    gemm_flops = gemm_us = isolated_s = 0.0
    for event in prof.key_averages(group_by_input_shape=True):
        if event.key not in GEMM_OPS or not event.input_shapes:
            continue
        batch, m, k, n = gemm_dims(event.key, event.input_shapes)
        gemm_flops += 2.0 * batch * m * k * n * event.count
        gemm_us += event.self_cpu_time_total
        isolated_s += isolated_gemm_seconds(batch, m, k, n) * event.count
    tgt = sum(int((b.tgt_out != 0).sum()) for b in batches)
    src = sum(int(b.src_mask.sum()) for b in batches)
    m = config.model
    per_target_token = transformer_train_flops_per_target_token(
        m.d_model,
        m.ff_size,
        m.encoder_layers,
        m.decoder_layers,
        int(data.meta["tgt_vocab_size"]),
        src_per_tgt=src / tgt,
        mean_len=tgt / sum(len(b.tgt_out) for b in batches),
    )
    useful = per_target_token * tgt
    return {
        "share_of_matmul_peak": round(useful / (wall_s * peak * 1e9), 4),
        "useful_share_of_gemm_flops": round(useful / gemm_flops, 4),
        "gemm_share_of_peak": round(gemm_flops / (gemm_us * 1e-6) / (peak * 1e9), 4),
        "gemm_share_of_peak_isolated": round(gemm_flops / isolated_s / (peak * 1e9), 4),
        "gemm_share_of_step": round(gemm_us / whole_us, 4),
        "ceiling_if_only_gemms": round(useful / (isolated_s * peak * 1e9), 4),
        "target_padding": round(1 - tgt / sum(b.tgt_out.numel() for b in batches), 4),
        "source_padding": round(1 - src / sum(b.src.numel() for b in batches), 4),
    }


if __name__ == "__main__":
    main()
