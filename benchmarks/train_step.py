"""Time of one training step of a Transformer on synthetic batches, on CPU or a CUDA GPU.

    python benchmarks/train_step.py --size base --device cuda --precision bf16 fp32
    python benchmarks/train_step.py --size small --device cpu --precision fp32 bf16 --steps 5
    python benchmarks/train_step.py --size small --device cpu --precision fp32 --compile --vocab 8000 \
        --batch-tokens 4096 --length 16 --threads 2 --name train-step-compile-cpu

One step is the trainer's update on one batch: forward under autocast (none for fp32), the
label-smoothed loss on the target positions, backward (through a GradScaler for fp16), gradient
clipping, AdamW. The batch is `--batch-tokens` / `--length` sentences of `--length` random ids on
both sides (each target row counts as `--length` target tokens: pieces + EOS), after `--warmup`
untimed steps, so the figures depend only on the model size and the machine. Prints, per precision,
ms/step (median), target tokens/s, achieved model TFLOP/s (benchmarks/common.py's FLOP count) and,
on a GPU, MFU: achieved / the GPU's peak dense bf16 TFLOP/s (table in common.py). `--compile` times
every precision twice, eager and with the model under `torch.compile` (its first step, the
compilation, is reported as `first_step_s`).

Sizes: small = configs/tatoeba-small.yaml's model (3+3 layers, d 256, ff 1024, 4 heads),
base = the Transformer base of Vaswani et al. (6+6, d 512, ff 2048, 8 heads), big (6+6, d 1024,
ff 4096, 16 heads).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import gpu_peak_tflops, target_tokens, transformer_train_flops_per_target_token, write_result
from yiyan.config import ModelConfig
from yiyan.models import build_model
from yiyan.runtime import autocast
from yiyan.training.loss import projected_loss

SIZES: dict[str, dict[str, Any]] = {
    "small": dict(d_model=256, encoder_layers=3, decoder_layers=3, heads=4, ff_size=1024),
    "base": dict(d_model=512, encoder_layers=6, decoder_layers=6, heads=8, ff_size=2048),
    "big": dict(d_model=1024, encoder_layers=6, decoder_layers=6, heads=16, ff_size=4096),
}
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_times(
    model_config: ModelConfig,
    precision: str,
    device: torch.device,
    *,
    vocab: int,
    batch: int,
    length: int,
    warmup: int,
    steps: int,
    compile_model: bool = False,
) -> dict[str, Any]:
    """Median step time and throughput of `precision` (fp32, bf16 or fp16); with `compile_model`,
    of the model's forward and backward compiled by `torch.compile` (the loss stays eager)."""
    torch.manual_seed(0)
    model = build_model(model_config, vocab, vocab).to(device).train()
    forward = torch.compile(model) if compile_model else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    dtype = DTYPES[precision]
    scaler = torch.amp.GradScaler("cuda", enabled=dtype is torch.float16)
    generator = torch.Generator().manual_seed(1)
    src, tgt_in, tgt_out = (
        torch.randint(4, vocab, (batch, length), generator=generator).to(device) for _ in range(3)
    )
    mask = torch.ones(batch, length, dtype=torch.bool, device=device)
    times, losses, first_step = [], [], 0.0
    for i in range(warmup + steps):
        sync(device)
        start = time.perf_counter()
        with autocast(device, dtype):
            hidden = forward(src, mask, tgt_in)
            loss, _ = projected_loss(
                hidden.reshape(-1, hidden.shape[-1]), model.output_projection, tgt_out.reshape(-1), 0.1
            )
        scaler.scale(loss / tgt_out.numel()).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        sync(device)
        if i == 0:
            first_step = time.perf_counter() - start  # with --compile: the compilation
        if i >= warmup:
            times.append(time.perf_counter() - start)
            losses.append(loss.item() / tgt_out.numel())
    seconds = statistics.median(times)
    tokens_per_s = target_tokens([length - 1] * batch) / seconds  # each row: length - 1 pieces + EOS
    flops = transformer_train_flops_per_target_token(
        model_config.d_model,
        model_config.ff_size,
        model_config.encoder_layers,
        model_config.decoder_layers,
        vocab,
        src_per_tgt=1.0,
        mean_len=length,
    )
    return {
        "precision": precision + ("+compile" if compile_model else ""),
        "first_step_s": round(first_step, 2),
        "ms_per_step": round(seconds * 1000, 2),
        "target_tokens_per_s": round(tokens_per_s, 1),
        "achieved_tflops": round(tokens_per_s * flops / 1e12, 3),
        "loss_first_last": [round(losses[0], 4), round(losses[-1], 4)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="base")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--precision", nargs="+", choices=sorted(DTYPES), default=["bf16"])
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--batch-tokens", type=int, default=8192)
    parser.add_argument("--length", type=int, default=32, help="tokens per sentence, both sides")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per precision (median)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch's default)")
    parser.add_argument(
        "--compile", action="store_true", help="also time each precision with the model under torch.compile"
    )
    parser.add_argument(
        "--name", help="result name: benchmarks/results/NAME.json (default train-step-<size>)"
    )
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    name = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = torch.device("cpu" if name == "auto" else name)
    model_config = ModelConfig(type="transformer", dropout=0.1, **SIZES[args.size])
    batch = max(1, args.batch_tokens // args.length)
    report: dict[str, Any] = {
        "size": args.size,
        "batch": f"{batch} × {args.length} tokens",
    }
    peak = None
    if device.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(device)
        peak = gpu_peak_tflops(report["gpu"])
        report["gpu_peak_bf16_tflops"] = peak[1] if peak else None
        where = f"{report['gpu']} (peak bf16 {peak[1]:.0f} TFLOP/s as {peak[0]})" if peak else report["gpu"]
    else:
        where = f"CPU, {torch.get_num_threads()} threads"
    print(f"{args.size} Transformer, vocab {args.vocab}, batch {report['batch']}, on {where}", flush=True)
    report["results"] = []
    modes = (False, True) if args.compile else (False,)  # eager, then compiled
    for precision, compile_model in [(p, c) for p in args.precision for c in modes]:
        row = step_times(
            model_config,
            precision,
            device,
            vocab=args.vocab,
            batch=batch,
            length=args.length,
            warmup=args.warmup,
            steps=args.steps,
            compile_model=compile_model,
        )
        if peak:
            row["mfu"] = round(row["achieved_tflops"] / peak[1], 4)
        report["results"].append(row)
    print(f"{'precision':<16} {'ms/step':>9} {'tgt tok/s':>11} {'TFLOP/s':>9} {'MFU':>7}  loss first → last")
    for row in report["results"]:
        mfu = f"{row['mfu']:.1%}" if "mfu" in row else "-"
        first, last = row["loss_first_last"]
        print(
            f"{row['precision']:<16} {row['ms_per_step']:>9} {row['target_tokens_per_s']:>11} "
            f"{row['achieved_tflops']:>9} {mfu:>7}  {first} → {last}"
        )
    write_result(args.name or f"train-step-{args.size}", report)


if __name__ == "__main__":
    main()
