"""Hugging Face transformers MarianMT as a peer of yiyan: train on the peers' Tatoeba data and
joint SentencePiece vocabulary, and decode a test set. Run by benchmarks/peers_side_by_side.py with
the interpreter of its own venv (torch, transformers, sentencepiece; not yiyan), never by hand:

    PY peer_marian.py train  --data WORK/data --out WORK/marian-RECIPE --lr 5e-4 --warmup 100
    PY peer_marian.py decode --data WORK/data --model WORK/marian-RECIPE --beam 5 --out FILE.json

The model is MarianMT at the reference size (../shared/reference/README.md): 3 + 3 layers,
d_model 256, 4 heads, ff 1024, dropout 0.1, post-LayerNorm (Marian's architecture), ReLU,
sinusoidal positions, embeddings scaled by √d and tied across source, target and output.

Training is a plain loop written here, as a Marian user would write it (HF's Trainer adds
nothing but overhead to this measurement): batches filled in corpus order after a shuffle, up to
`--batch-tokens` padded cells (sentences × longest side), no length bucketing — the way Joey and
the reference runs batch; Adam(0.9, 0.98, eps 1e-9), inverse-sqrt schedule after linear warmup,
label-smoothed cross-entropy averaged over target tokens.

Token accounting (the definition of benchmarks/common.py `target_tokens`): labels are the target
pieces + </s>, padded with -100, so `(labels != -100).sum()` is non-padding target pieces + EOS.
Training time is the sum of the steps' wall clock (batch tensors built, forward, backward, optimizer)
— no validation runs. Every `--log-every` updates one JSON line goes to stdout:
`{"step", "epoch", "target_tokens", "train_s", "loss"}`; the first line `{"event": "started"}`
marks the start of the loop (the budget counts from there). SIGINT (or SIGTERM) ends the loop after
the current update; the model is saved (safetensors) and a `{"event": "done", ...}` line printed.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import sentencepiece as spm
import torch
import torch.nn.functional as F
from transformers import MarianConfig, MarianMTModel

UNK, PAD, BOS, EOS = 0, 1, 2, 3  # make_joint_spm.py's ids
MAX_PIECES = 100  # Joey's reference max_length, both sides
STOP = {"requested": False}


def model_config(vocab_size: int) -> MarianConfig:
    return MarianConfig(
        vocab_size=vocab_size,
        d_model=256,
        encoder_layers=3,
        decoder_layers=3,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=1024,
        decoder_ffn_dim=1024,
        dropout=0.1,
        attention_dropout=0.0,
        activation_dropout=0.0,
        activation_function="relu",
        max_position_embeddings=512,
        scale_embedding=True,
        share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True,
        pad_token_id=PAD,
        eos_token_id=EOS,
        bos_token_id=BOS,
        decoder_start_token_id=PAD,  # Marian's convention: the decoder starts from <pad>
        forced_eos_token_id=EOS,
    )


def read_pairs(data: Path, split: str, sp: spm.SentencePieceProcessor) -> list[tuple[list[int], list[int]]]:
    src = (data / f"{split}.en").read_text(encoding="utf-8").splitlines()
    tgt = (data / f"{split}.zh").read_text(encoding="utf-8").splitlines()
    pairs = []
    for s, t in zip(src, tgt):
        s_ids, t_ids = sp.encode(s), sp.encode(t)
        if 0 < len(s_ids) <= MAX_PIECES and 0 < len(t_ids) <= MAX_PIECES:  # Joey's filter
            pairs.append(([*s_ids, EOS], [*t_ids, EOS]))
    return pairs


def batches(pairs: list[tuple[list[int], list[int]]], batch_tokens: int, rng: random.Random) -> Any:
    """Shuffled pairs cut into batches of at most `batch_tokens` padded cells (no bucketing)."""
    order = list(range(len(pairs)))
    rng.shuffle(order)
    batch: list[int] = []
    longest = 0
    for i in order:
        cells = max(len(pairs[i][0]), len(pairs[i][1]))
        if batch and (len(batch) + 1) * max(longest, cells) > batch_tokens:
            yield batch
            batch, longest = [], 0
        batch.append(i)
        longest = max(longest, cells)
    if batch:
        yield batch


def pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows])


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def train(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    sp = spm.SentencePieceProcessor(model_file=str(args.data / "spm.joint.model"))
    pairs = read_pairs(args.data, "train", sp)
    model = MarianMTModel(model_config(sp.get_piece_size()))
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.98), eps=1e-9)

    def rate(step: int) -> float:  # linear warmup, then ∝ 1/√step; peak `lr` at `warmup`
        return args.lr * min(step / args.warmup, math.sqrt(args.warmup / step)) if args.warmup else args.lr

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: STOP.update(requested=True))
    rng = random.Random(args.seed)
    step = epoch = tokens = 0
    train_s = loss_value = 0.0
    emit(
        {
            "event": "started",
            "pairs": len(pairs),
            "parameters": sum(p.numel() for p in model.parameters()),
        }
    )
    while not STOP["requested"]:
        epoch += 1
        for batch in batches(pairs, args.batch_tokens, rng):
            start = time.perf_counter()
            input_ids = pad([pairs[i][0] for i in batch], PAD)
            labels = pad([pairs[i][1] for i in batch], -100)
            logits = model(input_ids=input_ids, attention_mask=input_ids != PAD, labels=labels).logits
            loss = F.cross_entropy(
                logits.view(-1, logits.size(-1)), labels.view(-1), ignore_index=-100, label_smoothing=0.1
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if args.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            step += 1
            for group in optimizer.param_groups:
                group["lr"] = rate(step)
            optimizer.step()
            train_s += time.perf_counter() - start
            tokens += int((labels != -100).sum())  # pieces + EOS, padding excluded
            loss_value = float(loss.detach())
            if step % args.log_every == 0:
                emit(
                    {
                        "step": step,
                        "epoch": epoch,
                        "target_tokens": tokens,
                        "train_s": round(train_s, 3),
                        "loss": round(loss_value, 4),
                    }
                )
            if STOP["requested"]:
                break
    model.save_pretrained(args.out)  # safetensors
    emit(
        {
            "event": "done",
            "step": step,
            "epoch": epoch,
            "target_tokens": tokens,
            "train_s": round(train_s, 3),
            "loss": round(loss_value, 4),
        }
    )


def decode(args: argparse.Namespace) -> None:
    """Translate test.en: sorted by length, `--batch-size` sentences per generate() call; one
    untimed warm-up batch first. Writes hypotheses (corpus order), generated pieces and seconds."""
    torch.set_num_threads(args.threads)
    sp = spm.SentencePieceProcessor(model_file=str(args.data / "spm.joint.model"))
    model = MarianMTModel.from_pretrained(args.model).eval()
    sources = (args.data / f"{args.split}.en").read_text(encoding="utf-8").splitlines()
    encoded = [[*sp.encode(s)[: MAX_PIECES - 1], EOS] for s in sources]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    chunks = [order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size)]
    outputs: list[list[int]] = [[] for _ in sources]

    def run(chunk: list[int]) -> None:
        input_ids = pad([encoded[i] for i in chunk], PAD)
        generated = model.generate(
            input_ids=input_ids,
            attention_mask=input_ids != PAD,
            num_beams=args.beam,
            do_sample=False,
            max_new_tokens=int(1.5 * input_ids.size(1)) + 10,  # as yiyan: 1.5 × source + 10
        )
        for i, row in zip(chunk, generated.tolist()):
            pieces = []
            for token in row[1:]:  # row[0] is the decoder start token
                if token in (EOS, PAD):
                    break
                pieces.append(token)
            outputs[i] = pieces

    with torch.inference_mode():
        run(chunks[len(chunks) // 2])  # warm-up, untimed
        start = time.perf_counter()
        for chunk in chunks:
            run(chunk)
        seconds = time.perf_counter() - start
    result = {
        "hypotheses": [sp.decode(ids) for ids in outputs],
        "generated_pieces": [len(ids) for ids in outputs],
        "seconds": seconds,
    }
    Path(args.out).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["train", "decode"])
    parser.add_argument("--data", type=Path, required=True, help="{train,test}.{en,zh} and spm.joint.model")
    parser.add_argument("--out", type=Path, required=True, help="train: model directory; decode: JSON file")
    parser.add_argument("--model", type=Path, help="decode: the trained model directory")
    parser.add_argument("--split", default="test")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--clip", type=float, default=0.0, help="gradient norm clip; 0 = off")
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--beam", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    if args.mode == "train":
        train(args)
    else:
        if args.model is None:
            parser.error("decode needs --model")
        decode(args)


if __name__ == "__main__":
    sys.exit(main())
