"""A run directory that has trained is never silently reused: train needs --resume or --overwrite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from run_helpers import TINY
from test_cli import yiyan

SETS = [x for item in [*TINY, "training.eval_every=2", "training.eval_bleu=false"] for x in ("--set", item)]


def train(run: Path, *flags: str, steps: int = 4) -> tuple[int, str]:
    result = yiyan(
        "train", "configs/demo.yaml", "--run-dir", str(run), *SETS, "--max-steps", str(steps), *flags
    )
    return result.returncode, result.stderr


def train_steps(run: Path) -> list[int]:
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [record["step"] for record in map(json.loads, lines) if record["kind"] == "train"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("protect") / "run"
    code, err = train(run, "--quiet")
    assert code == 0, err
    assert train_steps(run) == [1, 2, 3, 4]
    return run


def test_training_again_without_a_flag_refuses_and_touches_nothing(trained: Path) -> None:
    metrics = (trained / "metrics.jsonl").read_bytes()
    state = (trained / "checkpoints" / "last" / "state.json").read_bytes()
    code, err = train(trained, "--quiet")
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err  # one line
    assert "already holds a training run" in err and "--resume" in err and "--overwrite" in err
    assert (trained / "metrics.jsonl").read_bytes() == metrics
    assert (trained / "checkpoints" / "last" / "state.json").read_bytes() == state


def test_resume_and_overwrite_together_is_a_usage_error(trained: Path) -> None:
    code, err = train(trained, "--resume", "--overwrite")
    assert code == 2 and "not allowed with argument" in err


def test_finetune_refuses_before_any_work_on_a_trained_run_or_baseline(trained: Path, tmp_path: Path) -> None:
    target = tmp_path / "ft"
    for claimed in (target, tmp_path / "ft-scratch"):  # the run, then the --scratch baseline
        claimed.mkdir(exist_ok=True)
        (claimed / "metrics.jsonl").write_text('{"kind": "train", "step": 1}\n', encoding="utf-8")
        result = yiyan(
            "finetune", str(trained), "configs/finetune-hsk.yaml", "--run-dir", str(target), "--scratch"
        )
        assert result.returncode == 2, result.stderr
        assert f"{claimed} already holds a training run (metrics.jsonl)" in result.stderr
        assert not (target / "prepare_report.json").exists()  # refused before preparing
        (claimed / "metrics.jsonl").unlink()


def test_overwrite_starts_again_and_resume_continues(trained: Path) -> None:
    (trained / "model.safetensors").unlink()  # the overwritten run must write its own
    code, err = train(trained, "--overwrite", "--quiet", steps=3)
    assert code == 0, err
    assert train_steps(trained) == [1, 2, 3]  # metrics.jsonl started afresh, not appended to
    assert (trained / "model.safetensors").is_file()
    assert (trained / "prepare_report.json").is_file()  # the prepared data is kept
    code, err = train(trained, "--resume", "--quiet", steps=5)
    assert code == 0, err
    assert train_steps(trained) == [1, 2, 3, 4, 5]
