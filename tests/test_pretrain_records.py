"""The records a learning curve and a step-time split are read from (benchmarks/pretrain_*.py):
every dev record carries the training clock and target tokens seen so far, every train record the
share of its steps spent building batches."""

from __future__ import annotations

import json
from pathlib import Path

from run_helpers import tiny_config
from yiyan.training.trainer import train


def test_dev_records_carry_the_training_clock_and_train_records_the_data_share(tmp_path: Path) -> None:
    run = tmp_path / "run"
    summary = train(
        tiny_config(run, "training.max_steps=30", "training.eval_every=10", "training.log_every=5"),
        quiet=True,
    )
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    dev = [r for r in records if r["kind"] == "dev"]
    assert [r["step"] for r in dev] == [10, 20, 30]
    seconds, tokens = [r["train_seconds"] for r in dev], [r["target_tokens"] for r in dev]
    assert 0 < seconds[0] < seconds[1] < seconds[2] <= summary["train_seconds"] + 0.01
    assert 0 < tokens[0] < tokens[1] < tokens[2] == summary["target_tokens"]
    shares = [r["data_share"] for r in records if r["kind"] == "train"]
    assert len(shares) == 6 and all(0 < share < 1 for share in shares)
