"""Exact resume after a crash: `yiyan train` killed with SIGKILL at a random step, then
`yiyan train --resume`, logs the same losses as an uninterrupted run with the same seed (CPU, one
thread, dropout on, so the random state must be restored too). A checkpoint cut off mid-write is
never taken as valid: `last` damaged → `prev` with a warning; both damaged → a clear error.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from model_helpers import tiny_model
from scale_helpers import child_env, records, run_config, train_losses, write_config, yiyan
from yiyan.checkpoint import load_training_checkpoint, save_training_checkpoint
from yiyan.cli import main
from yiyan.errors import CheckpointError, YiyanError
from yiyan.io import read_json
from yiyan.training.trainer import Trainer

STEPS, EVAL_EVERY = 60, 8
# 300-odd short pairs in batches of 256 tokens: an epoch is 15 updates, so the run crosses epochs
SMALL = ("training.max_length=12", "training.batch_tokens=256", f"training.eval_every={EVAL_EVERY}")


@pytest.fixture
def template(data_prepared_tiny_run: Path) -> Path:
    return data_prepared_tiny_run


def last_train_step(run: Path) -> int:
    path = run / "metrics.jsonl"
    if not path.is_file():
        return 0
    step = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # being written
            continue
        if record["kind"] == "train":
            step = record["step"]
    return step


def checkpoint_step(run: Path) -> int:
    try:
        return int(read_json(run / "checkpoints" / "last" / "state.json")["train_state"]["step"])
    except (OSError, ValueError, KeyError):
        return 0


def test_sigkill_at_a_random_step_then_resume_logs_the_same_losses(tmp_path: Path, template: Path) -> None:
    runs = {name: tmp_path / name for name in ("straight", "crashed")}
    env = child_env()
    children = {
        name: subprocess.Popen(
            yiyan("train", str(write_config(config, tmp_path / f"{name}.yaml")), "--quiet"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for name, config in (
            (name, run_config(template, run, *SMALL, f"training.max_steps={STEPS}"))
            for name, run in runs.items()
        )
    }  # both at once: the uninterrupted reference and the one to kill
    run, child = runs["crashed"], children["crashed"]
    kill_at = random.SystemRandom().randint(EVAL_EVERY + 1, 3 * EVAL_EVERY)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and child.poll() is None:
            if checkpoint_step(run) and last_train_step(run) >= max(kill_at, checkpoint_step(run) + 1):
                child.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        child.wait(timeout=60)
        _, stderr = children["straight"].communicate(timeout=300)
    finally:
        for process in children.values():
            if process.poll() is None:
                process.kill()
    assert children["straight"].returncode == 0, stderr.decode()[-3000:]
    assert child.returncode == -signal.SIGKILL, f"not killed (exit {child.returncode}, kill_at {kill_at})"
    resume_from, killed_after = checkpoint_step(run), last_train_step(run)
    assert 0 < resume_from < killed_after < STEPS, (resume_from, killed_after)
    before_crash = dict(train_losses(run))

    resumed = subprocess.run(
        yiyan("train", str(tmp_path / "crashed.yaml"), "--resume", "--quiet"),
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr.decode()[-3000:]
    expected, got = train_losses(runs["straight"]), train_losses(run)
    assert [step for step, _ in got] == list(range(1, STEPS + 1))  # steps redone after the crash logged once
    for (step, a), (_, b) in zip(expected, got):
        where = f"step {step} (resumed from {resume_from}, killed after {killed_after})"
        assert a == b, f"{where}: {a} != {b}"
        assert before_crash.get(step, b) == b, (
            f"{where}: logged {before_crash[step]} before the crash, now {b}"
        )
    dev = [(r["step"], r["loss"]) for r in records(runs["straight"], "dev")]
    assert len(dev) == STEPS // EVAL_EVERY + 1
    assert dev == [(r["step"], r["loss"]) for r in records(run, "dev")]
    assert read_json(run / "train_summary.json")["steps"] == STEPS


def test_sigterm_saves_a_checkpoint_and_stops(tmp_path: Path, template: Path) -> None:
    run = tmp_path / "run"
    config = write_config(run_config(template, run, *SMALL, "training.max_steps=100000"), tmp_path / "c.yaml")
    child = subprocess.Popen(yiyan("train", str(config), "--quiet"), env=child_env(), stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and last_train_step(run) <= EVAL_EVERY + 2:
            time.sleep(0.01)
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, stderr.decode()[-3000:]
    summary = read_json(run / "train_summary.json")
    assert summary["stopped_by"] == "signal"
    assert checkpoint_step(run) == summary["steps"] == last_train_step(run)  # saved where it stopped


# ---------------------------------------------------------------- damaged checkpoints


def two_checkpoints(directory: Path) -> torch.nn.Module:
    model = tiny_model("transformer")
    optimizer = torch.optim.AdamW(model.parameters())
    for step in (1, 2):
        model.zero_grad()
        src, tgt = torch.randint(4, 20, (2, 5)), torch.randint(4, 20, (2, 5))
        model(src, torch.ones(2, 5, dtype=torch.bool), tgt).sum().backward()
        optimizer.step()
        save_training_checkpoint(directory, model, optimizer, {"train_state": {"step": step}})
    return model


def load_step(directory: Path) -> int:
    model = tiny_model("transformer")
    return int(
        load_training_checkpoint(directory, model, torch.optim.AdamW(model.parameters()))["train_state"][
            "step"
        ]
    )


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damage", ["model.safetensors", "optimizer.safetensors", "state.json"])
def test_a_truncated_last_falls_back_to_prev_with_a_warning(tmp_path: Path, damage: str) -> None:
    two_checkpoints(tmp_path)
    assert load_step(tmp_path) == 2
    truncate(tmp_path / "last" / damage)
    with pytest.warns(UserWarning, match="damaged"):
        assert load_step(tmp_path) == 1


def test_a_save_killed_midway_leaves_last_valid(tmp_path: Path) -> None:
    two_checkpoints(tmp_path)
    partial = tmp_path / ".last.killed"  # what a process killed while saving leaves behind
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"\0" * 10)
    assert load_step(tmp_path) == 2
    shutil.rmtree(tmp_path / "last")  # killed between the two renames: prev is complete
    assert load_step(tmp_path) == 1
    two_checkpoints(tmp_path)  # the next save clears the leftovers
    assert not partial.exists()


def test_state_without_checksums_is_not_trusted(tmp_path: Path) -> None:
    two_checkpoints(tmp_path)
    state_path = tmp_path / "last" / "state.json"
    state = read_json(state_path)
    del state["sha256"]
    state_path.write_text(json.dumps(state), encoding="utf-8")
    with pytest.warns(UserWarning, match="no checksums"):
        assert load_step(tmp_path) == 1


def test_both_damaged_is_a_clear_error(
    tmp_path: Path, template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    two_checkpoints(tmp_path)
    truncate(tmp_path / "last" / "model.safetensors")
    (tmp_path / "prev" / "state.json").write_text('{"train_state": {"st', encoding="utf-8")
    with pytest.raises(CheckpointError, match="no usable training checkpoint.*last.*prev"):
        load_step(tmp_path)

    # through the command line: one line, exit status 2
    run = tmp_path / "run"
    config = write_config(run_config(template, run, *SMALL, "training.max_steps=2"), tmp_path / "c.yaml")
    shutil.copytree(tmp_path / "last", run / "checkpoints" / "last")
    shutil.copytree(tmp_path / "prev", run / "checkpoints" / "prev")
    threads = torch.get_num_threads()
    try:
        assert main(["train", str(config), "--resume", "--quiet"]) == 2
    finally:
        torch.set_num_threads(threads)
    error = capsys.readouterr().err
    assert "yiyan: error: no usable training checkpoint" in error and "Traceback" not in error


def test_resume_with_another_number_of_ranks_is_a_clear_error(tmp_path: Path, template: Path) -> None:
    config = run_config(template, tmp_path / "run", *SMALL, "training.max_steps=2", "training.eval_every=2")
    threads = torch.get_num_threads()
    try:
        Trainer(config, quiet=True).train()
        state_path = tmp_path / "run" / "checkpoints" / "last" / "state.json"
        state = read_json(state_path)
        state["train_state"]["sampler"]["num_batches"] += 1  # as if saved with another world size
        state_path.write_text(json.dumps(state), encoding="utf-8")
        with pytest.raises(YiyanError, match="same data, config and number of ranks"):
            Trainer(config, resume=True, quiet=True)
    finally:
        torch.set_num_threads(threads)
