"""Training: the loop learns, keeps the best model, and resumes exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from run_helpers import tiny_config
from yiyan.checkpoint import load_model
from yiyan.errors import YiyanError
from yiyan.training.schedule import learning_rate
from yiyan.training.trainer import train


def losses(run: Path) -> dict[int, float]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if r["kind"] == "train"}


@pytest.mark.parametrize("arch", ["transformer", "rnn"])
def test_resume_gives_the_same_parameters_as_an_uninterrupted_run(tmp_path: Path, arch: str) -> None:
    common = ("training.eval_every=6", "training.eval_bleu=false")
    straight = tiny_config(tmp_path / "straight", *common, "training.max_steps=12", arch=arch)
    train(straight, quiet=True)

    stopped = tiny_config(tmp_path / "resumed", *common, "training.max_steps=6", arch=arch)
    train(stopped, quiet=True)
    resumed = tiny_config(tmp_path / "resumed", *common, "training.max_steps=12", arch=arch)
    summary = train(resumed, resume=True, quiet=True)

    assert summary["steps"] == 12
    a = load_file(str(tmp_path / "straight" / "checkpoints" / "last" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "checkpoints" / "last" / "model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert losses(tmp_path / "straight") == losses(tmp_path / "resumed")


def test_training_lowers_the_loss_and_writes_a_complete_run(tmp_path: Path) -> None:
    config = tiny_config(tmp_path / "run", "training.max_steps=40", "training.eval_every=20")
    summary = train(config, quiet=True)
    curve = losses(tmp_path / "run")
    assert sum(list(curve.values())[-5:]) < sum(list(curve.values())[:5])
    for name in ("config.yaml", "model.json", "model.safetensors", "train.log", "train_summary.json"):
        assert (tmp_path / "run" / name).is_file(), name
    assert list((tmp_path / "run" / "tensorboard").iterdir())
    assert summary["target_tokens_per_s"] > 0
    dev = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in dev if r["kind"] == "dev"] == [20, 40]
    model = load_model(tmp_path / "run")
    assert model.config.d_model == 32


def test_max_time_stops_and_keeps_the_best(tmp_path: Path) -> None:
    config = tiny_config(tmp_path / "run", "training.max_time=3", "training.eval_every=1000")
    summary = train(config, quiet=True)
    assert summary["stopped_by"] == "max_time"
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_early_stopping_with_patience(tmp_path: Path) -> None:
    config = tiny_config(
        tmp_path / "run",
        "training.learning_rate=0.0",
        "training.eval_every=2",
        "training.patience=2",
        "training.max_steps=100",
        "training.eval_bleu=false",
        "training.schedule=constant",
        "training.warmup_steps=0",
    )
    summary = train(config, quiet=True)
    assert summary["stopped_by"] == "early_stopping"
    assert summary["steps"] == 6


def test_resume_without_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(YiyanError, match="no checkpoint"):
        train(tiny_config(tmp_path / "run", "training.max_steps=1"), resume=True, quiet=True)


def test_inverse_sqrt_schedule() -> None:
    config = tiny_config(Path("unused"), "training.warmup_steps=100", "training.learning_rate=0.001").training
    assert learning_rate(config, 50) == pytest.approx(0.0005)
    assert learning_rate(config, 100) == pytest.approx(0.001)
    assert learning_rate(config, 400) == pytest.approx(0.0005)
