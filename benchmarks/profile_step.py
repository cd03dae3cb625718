"""Where the time of a training step goes: torch.profiler over real Tatoeba batches.

    python benchmarks/profile_step.py runs/bench-tatoeba-small --steps 10

Loads a prepared run's config and training data, builds its model, runs a few full training
updates exactly as the trainer does (forward, logits on real target positions, label-smoothed
loss, backward, clipping, AdamW), and prints the operators by self CPU time, grouped into
matmul / attention / softmax+loss / dropout / norm / optimizer / other.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).parent))
from common import write_result
from yiyan.data.batching import TokenBudgetBatchSampler, collate
from yiyan.data.binarize import BinarizedDataset
from yiyan.models import build_model
from yiyan.runtime import fused_adamw_available
from yiyan.training.loss import projected_loss
from yiyan.translator import load_run_config

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


def group_of(name: str) -> str:
    lowered = name.lower()
    for group, keys in GROUPS.items():
        if any(key in lowered for key in keys):
            return group
    return "other (copies, masks, elementwise, autograd bookkeeping)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", help="a prepared run (its config and data/bin are used)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="profile-step", help="result name: benchmarks/results/NAME.json")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
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
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in batches[2:]:
            update(batch)
    totals: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        if event.key.startswith("aten::") or "Optimizer" in event.key:
            totals[group_of(event.key)] += event.self_cpu_time_total
    whole = sum(totals.values())
    print(f"{args.steps} updates, {config.training.batch_tokens}-token batches, {args.threads} threads")
    print("| where | share of self CPU time |\n|---|---:|")
    for group, micros in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"| {group} | {micros / whole:.1%} |")
    print()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    shares = {group: round(micros / whole, 4) for group, micros in totals.items()}
    write_result(
        args.name,
        {
            "run": args.run_dir,
            "updates": args.steps,
            "threads": args.threads,
            "share_of_self_cpu_time": shares,
        },
    )


if __name__ == "__main__":
    main()
