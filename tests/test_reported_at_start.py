"""Training says at its start how many pairs training.max_length leaves out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scale_helpers import records, run_config
from yiyan.data.binarize import BinarizedDataset
from yiyan.io import read_json
from yiyan.training.trainer import train


def test_pairs_over_max_length_are_reported_in_console_log_metrics_and_summary(
    tmp_path: Path, data_prepared_tiny_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    config = run_config(
        data_prepared_tiny_run, run, "training.max_length=8", "training.max_steps=2", "training.eval_every=2"
    )
    data = BinarizedDataset(run / "data" / "bin", "train")
    over = int(np.sum((np.asarray(data.src_lengths) > 8) | (np.asarray(data.tgt_lengths) > 8)))
    assert 0 < over < len(data)  # the test needs some pairs on each side of the limit

    train(config)
    message = f"{over} of {len(data)} training pairs ({over / len(data):.2%}) are left out: longer than"
    assert message in capsys.readouterr().out
    assert message in (run / "train.log").read_text(encoding="utf-8")
    (record,) = records(run, "data")
    assert record == {
        "kind": "data",
        "step": 0,
        "train_pairs": len(data),
        "over_max_length": over,
        "max_length": 8,
    }
    assert read_json(run / "train_summary.json")["pairs_over_max_length"] == over


def test_dev_pairs_beyond_the_models_positions_are_left_out_of_the_dev_loss_and_said(
    tmp_path: Path, data_prepared_tiny_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = BinarizedDataset(data_prepared_tiny_run / "data" / "bin", "dev")
    longest_side = np.maximum(np.asarray(dev.src_lengths), np.asarray(dev.tgt_lengths))
    limit = int(np.median(longest_side))  # about half the dev pairs are longer
    over = int(np.sum(longest_side > limit))
    assert 0 < over < len(dev)
    run = tmp_path / "run"
    config = run_config(
        data_prepared_tiny_run,
        run,
        f"model.max_positions={limit + 1}",  # room for `limit` pieces + BOS/EOS
        f"training.max_length={limit}",
        f"decoding.max_input_tokens={limit - 1}",
        "training.max_steps=2",
        "training.eval_every=2",
    )

    train(config)  # without the limit, the first dev loss would fail on a too-long pair
    message = f"dev loss leaves out {over} of {len(dev)} dev pairs longer than the model's {limit} positions"
    assert message in capsys.readouterr().out
    assert records(run, "dev")[0]["loss"] > 0
