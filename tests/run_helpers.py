"""Tiny end-to-end runs on the embedded HSK corpus, shared by the training and CLI tests."""

from __future__ import annotations

from pathlib import Path

from yiyan.config import Config, load_config

TINY = [
    "data.corpus=hsk",
    "data.dev_size=60",
    "data.test_size=60",
    "tokenizer.vocab_size=800",
    "tokenizer.character_coverage=0.98",
    "model.d_model=32",
    "model.ff_size=64",
    "model.heads=2",
    "model.encoder_layers=1",
    "model.decoder_layers=1",
    "model.hidden_size=32",
    "model.dropout=0.1",
    "training.batch_tokens=512",
    "training.warmup_steps=10",
    "training.learning_rate=0.003",
    "training.log_every=1",
    "training.eval_max_sentences=20",
    "training.seed=7",
    "decoding.max_length_ratio=1.0",
]


def tiny_config(run_dir: Path, *overrides: str, arch: str = "transformer") -> Config:
    """A config that trains in seconds; `overrides` are 'section.key=value' strings."""
    return load_config(None, [*TINY, f"model.type={arch}", f"run_dir={run_dir}", *overrides])
