"""yiyan's Transformer trained inside Marian's training loop: which model learns faster per update?

    python benchmarks/marian_loop.py --data WORK/data --model yiyan --norm post --init normal \
        --steps 450 --name marian-loop-yiyan-post-normal
    python benchmarks/marian_loop.py --data WORK/data --model marian --steps 450 --name marian-loop-marian

WORK/data is the peers' data folder written by benchmarks/peers_side_by_side.py (train/dev .en/.zh
and the reference SentencePiece model spm.joint.model). The loop is benchmarks/peer_marian.py's:
pairs shuffled and cut into batches of at most `--batch-tokens` padded cells (no bucketing, or
`--batching bucketed` for yiyan's TokenBudgetBatchSampler), label-smoothed cross-entropy (0.1)
averaged over target tokens, Adam(0.9, 0.98, eps 1e-9), linear warmup then 1/√step, gradient
clipping. Only the model changes between runs (`--model`, and yiyan's `--norm` / `--init`), so two
runs with one seed see the same batches in the same order. Every `--eval-every` updates it records
the mean dev NLL per target token (no smoothing) and the mean training loss of the last 50
updates. Figures: benchmarks/results/<--name>.json. Runs on 2 threads; no other job beside it.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sentencepiece as spm
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from common import write_result
from peer_marian import BOS, EOS, PAD, UNK, model_config, pad, read_pairs
from peer_marian import batches as shuffled_batches  # pairs shuffled, no bucketing

Pairs = list[tuple[list[int], list[int]]]


def bucketed_batches(pairs: Pairs, batch_tokens: int, rng: random.Random) -> Iterator[list[int]]:
    from yiyan.data.batching import TokenBudgetBatchSampler

    lengths = [len(p[0]) - 1 for p in pairs], [len(p[1]) - 1 for p in pairs]  # without EOS
    yield from TokenBudgetBatchSampler(*lengths, batch_tokens, seed=rng.randrange(10**6))


class YiyanModel(torch.nn.Module):
    """yiyan's Transformer with the peers' model size; (source ids, labels) → logits."""

    def __init__(self, vocab: int, norm: str, init: str, dropout: float) -> None:
        super().__init__()
        from yiyan.config import ModelConfig
        from yiyan.models.transformer import Transformer

        config = ModelConfig(
            d_model=256,
            encoder_layers=3,
            decoder_layers=3,
            heads=4,
            ff_size=1024,
            dropout=dropout,
            norm=norm,  # type: ignore[arg-type]
            init=init,  # type: ignore[arg-type]
            pad_id=PAD,
            unk_id=UNK,
            bos_id=BOS,
            eos_id=EOS,
        )
        self.model = Transformer(config, vocab, vocab)

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        tgt_out = labels.masked_fill(labels == -100, PAD)
        tgt_in = torch.cat([torch.full_like(tgt_out[:, :1], BOS), tgt_out[:, :-1]], dim=1)
        return self.model.logits(self.model(input_ids, input_ids != PAD, tgt_in))


class MarianModel(torch.nn.Module):
    """Hugging Face MarianMT as peer_marian.py builds it."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        from transformers import MarianMTModel

        self.model = MarianMTModel(model_config(vocab))

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=input_ids, attention_mask=input_ids != PAD, labels=labels)
        return out.logits


def dev_nll(model: torch.nn.Module, pairs: Pairs) -> float:
    """Mean NLL per dev target token (EOS included), no label smoothing, dropout off."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]))
        for k in range(0, len(order), 64):
            rows = order[k : k + 64]
            labels = pad([pairs[i][1] for i in rows], -100)
            logits = model(pad([pairs[i][0] for i in rows], PAD), labels)
            total += float(F.cross_entropy(logits.flatten(0, 1), labels.view(-1), reduction="sum"))
            count += int((labels != -100).sum())
    model.train()
    return total / count


def train(args: argparse.Namespace) -> dict[str, Any]:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    sp = spm.SentencePieceProcessor(model_file=str(args.data / "spm.joint.model"))
    pairs, dev = read_pairs(args.data, "train", sp), read_pairs(args.data, "dev", sp)
    vocab = sp.get_piece_size()
    model = MarianModel(vocab) if args.model == "marian" else YiyanModel(vocab, args.norm, args.init, 0.1)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.98), eps=1e-9)
    make_batches = shuffled_batches if args.batching == "shuffled" else bucketed_batches
    rng = random.Random(args.seed)
    step = tokens = 0
    losses: list[float] = []
    curve: list[dict[str, Any]] = []
    start = time.perf_counter()
    while step < args.steps:
        for batch in make_batches(pairs, args.batch_tokens, rng):
            labels = pad([pairs[i][1] for i in batch], -100)
            logits = model(pad([pairs[i][0] for i in batch], PAD), labels)
            loss = F.cross_entropy(logits.flatten(0, 1), labels.view(-1), label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            step += 1
            for group in optimizer.param_groups:  # linear warmup, then ∝ 1/√step; peak lr at warmup
                group["lr"] = args.lr * min(step / args.warmup, math.sqrt(args.warmup / step))
            optimizer.step()
            tokens += int((labels != -100).sum())
            losses.append(float(loss.detach()))
            if step % args.eval_every == 0 or step == args.steps:
                point = {
                    "step": step,
                    "target_tokens": tokens,
                    "train_loss_last_50": round(sum(losses[-50:]) / len(losses[-50:]), 4),
                    "dev_nll": round(dev_nll(model, dev), 4),
                    "seconds": round(time.perf_counter() - start, 1),
                }
                curve.append(point)
                print(point, flush=True)
            if step >= args.steps:
                break
    return {
        "model": args.model,
        "norm": args.norm,
        "init": args.init,
        "batching": args.batching,
        "curve": curve,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="the peers' data folder (WORK/data)")
    parser.add_argument("--model", choices=["yiyan", "marian"], default="yiyan")
    parser.add_argument("--norm", choices=["pre", "post"], default="pre", help="yiyan's LayerNorm placement")
    parser.add_argument("--init", choices=["xavier_uniform", "normal"], default="xavier_uniform")
    parser.add_argument("--batching", choices=["shuffled", "bucketed"], default="shuffled")
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=450)
    parser.add_argument("--eval-every", type=int, default=150)
    parser.add_argument("--lr", type=float, default=1.5e-3, help="peak (configs/tatoeba-small.yaml's)")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", required=True, help="result name: benchmarks/results/NAME.json")
    args = parser.parse_args()
    write_result(args.name, train(args))


if __name__ == "__main__":
    main()
