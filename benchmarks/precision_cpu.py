"""fp32 vs bf16 autocast: time of one training step of the reference model on this CPU.

    OMP_NUM_THREADS=2 python benchmarks/precision_cpu.py --config configs/tatoeba-small.yaml --name precision-cpu

One step = forward under autocast (or none), label-smoothed loss on the target positions,
backward, gradient clipping, AdamW — the trainer's `_update` on one batch (benchmarks/train_step.py,
with the config's dropout). The batch is synthetic:
`--batch-tokens` / `--length` sentences of `--length` random ids on both sides (about the token
budget of the config), so the figure depends only on the model and the machine. Prints ms/step and
target tokens/s per precision and the bf16/fp32 speed ratio; the decision `precision: auto` takes
on CPU (yiyan.runtime.resolve_precision) is based on this ratio (see docs/scaling.md).
Never run two benchmarks at once on a 2-core machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import write_result
from train_step import step_times
from yiyan.config import load_config
from yiyan.runtime import cpu_has_amx_bf16


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default="configs/tatoeba-small.yaml", help="its model section is used")
    parser.add_argument("--vocab", type=int, default=8000, help="vocabulary size (default 8000)")
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--length", type=int, default=16, help="tokens per sentence, both sides")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per precision (median)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="precision-cpu", help="result name: benchmarks/results/NAME.json")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    batch = max(1, args.batch_tokens // args.length)
    report: dict[str, Any] = {
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "amx_bf16": cpu_has_amx_bf16(),
        "config": args.config,
        "batch": f"{batch} × {args.length} tokens",
        "results": [
            step_times(
                load_config(args.config).model,
                precision,
                torch.device("cpu"),
                vocab=args.vocab,
                batch=batch,
                length=args.length,
                warmup=args.warmup,
                steps=args.steps,
            )
            for precision in ("fp32", "bf16")
        ],
    }
    fp32, bf16 = report["results"]
    report["bf16_speedup"] = round(fp32["ms_per_step"] / bf16["ms_per_step"], 3)
    print(
        f"{args.threads} threads, capability {report['cpu_capability']}, "
        f"AMX-BF16 {report['amx_bf16']}; batch {report['batch']}"
    )
    print(f"{'precision':<10} {'ms/step':>9} {'tgt tok/s':>10}  loss first → last")
    for row in report["results"]:
        first, last = row["loss_first_last"]
        print(
            f"{row['precision']:<10} {row['ms_per_step']:>9} {row['target_tokens_per_s']:>10}  {first} → {last}"
        )
    print(f"bf16 autocast is {report['bf16_speedup']:.2f}× the speed of fp32")
    write_result(args.name, report)


if __name__ == "__main__":
    main()
