"""Tiny models, synthetic data and a minimal training loop shared by the model and search tests."""

from __future__ import annotations

import random
from typing import Any

import torch
from torch import Tensor

from yiyan.config import ModelConfig
from yiyan.models import Seq2SeqModel, build_model
from yiyan.training.loss import label_smoothed_nll
from yiyan.vocab import BOS_ID, EOS_ID, PAD_ID

VOCAB = 24  # the 4 special ids + 20 "words" (ids 4..23)
WORDS = range(4, VOCAB)


def tiny_config(kind: str, **overrides: Any) -> ModelConfig:
    sizes: dict[str, Any] = dict(
        type=kind,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        heads=4,
        ff_size=64,
        hidden_size=32,
        dropout=0.0,
        max_positions=128,
    )
    return ModelConfig(**{**sizes, **overrides})


def tiny_model(kind: str, seed: int = 0, vocab: int = VOCAB, **overrides: Any) -> Seq2SeqModel:
    torch.manual_seed(seed)
    return build_model(tiny_config(kind, **overrides), vocab, vocab).eval()


def pad(sequences: list[list[int]]) -> tuple[Tensor, Tensor]:
    """Right-padded [B, max_len] ids and their mask (True = real token)."""
    width = max(len(s) for s in sequences)
    ids = torch.tensor([s + [PAD_ID] * (width - len(s)) for s in sequences])
    return ids, ids != PAD_ID


def sources(sentences: list[list[int]]) -> tuple[Tensor, Tensor]:
    """`src`, `src_mask` for word-id sentences (EOS appended)."""
    return pad([[*s, EOS_ID] for s in sentences])


def targets(sentences: list[list[int]]) -> tuple[Tensor, Tensor]:
    """`tgt_in` (BOS + ids) and `tgt_out` (ids + EOS)."""
    return pad([[BOS_ID, *s] for s in sentences])[0], pad([[*s, EOS_ID] for s in sentences])[0]


def random_sentences(count: int, seed: int, lengths: tuple[int, int] = (2, 9)) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.choice(WORDS) for _ in range(rng.randint(*lengths))] for _ in range(count)]


def synthetic_pairs(count: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """Source: random words; target: the source reversed, each word mapped to another (needs attention)."""
    return [(s, [(w - 4 + 7) % 20 + 4 for w in reversed(s)]) for s in random_sentences(count, seed, (3, 8))]


def train(
    model: Seq2SeqModel, pairs: list[tuple[list[int], list[int]]], steps: int, lr: float
) -> Seq2SeqModel:
    """Full-batch Adam on label-smoothing-free cross entropy; returns the model in eval mode."""
    src, src_mask = sources([s for s, _ in pairs])
    tgt_in, tgt_out = targets([t for _, t in pairs])
    real = tgt_out != PAD_ID
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        hidden = model(src, src_mask, tgt_in)
        loss, _ = label_smoothed_nll(model.logits(hidden[real]), tgt_out[real], 0.0)
        optimizer.zero_grad()
        (loss / real.sum()).backward()
        optimizer.step()
    return model.eval()
