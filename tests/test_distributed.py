"""Data-parallel training on CPU: 2 gloo ranks started by PyTorch's launcher (`yiyan train --nproc 2`,
i.e. torchrun on a free 127.0.0.1 port), one epoch, then `--resume` for a second.

What is compared: 2 ranks × batch B against 1 process with accumulation=2 × batch B, its exact
equivalent. Both cut the same batches (same sentences, token budget and seed) and shuffle them into
the same order; rank r takes batches r, r+2, r+4, … of that order, and the single process puts
batches 2k and 2k+1 into update k — the same pair. Both divide the summed loss by the global number
of target tokens, so the updates agree up to floating-point summation order. (1 process × a budget
of 2B is not comparable batch for batch: a larger budget cuts the length-sorted sentences
differently.) Dropout is off, so no random numbers are drawn.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from scale_helpers import child_env, records, run_config, train_losses, write_config, yiyan
from yiyan.cli import _add_budget_overrides, _rank_argv, build_parser
from yiyan.data.batching import TokenBudgetBatchSampler
from yiyan.data.binarize import BinarizedDataset
from yiyan.errors import YiyanError
from yiyan.io import read_json
from yiyan.training.launch import torchrun_command
from yiyan.training.trainer import Distributed, train


@pytest.fixture
def template(data_prepared_tiny_run: Path) -> Path:
    return data_prepared_tiny_run


def budget_with_even_epoch(template: Path, max_length: int) -> tuple[int, int]:
    """A token budget whose epoch has a multiple of 4 batches, and the updates that epoch takes."""
    data = BinarizedDataset(template / "data" / "bin", "train")
    for budget in range(256, 512, 8):
        sampler = TokenBudgetBatchSampler(data.src_lengths, data.tgt_lengths, budget, max_length=max_length)
        if sampler.num_batches % 4 == 0:
            return budget, sampler.num_batches // 2
    raise AssertionError("no budget with a multiple of 4 batches")


def test_two_ranks_match_one_process_with_accumulation(tmp_path: Path, template: Path) -> None:
    budget, updates = budget_with_even_epoch(template, max_length=16)
    common = (
        f"training.batch_tokens={budget}",
        "training.max_length=16",
        "model.dropout=0.0",
        "training.max_epochs=2",  # both stop at the end of an epoch, the ranks after a resume
        # every epoch ends on an evaluation step: the exit path where ranks must agree on best_step
        f"training.eval_every={updates // 2}",
    )
    single = run_config(template, tmp_path / "single", *common, "training.accumulation=2")
    threads = torch.get_num_threads()
    try:
        summary = train(single, quiet=True)
    finally:
        torch.set_num_threads(threads)

    ranks = tmp_path / "ranks"
    config = write_config(run_config(template, ranks, *common), tmp_path / "ranks.yaml")
    for extra in (["--set", "training.max_epochs=1"], ["--resume"]):  # one epoch, then resume for the 2nd
        result = subprocess.run(
            yiyan("train", str(config), "--nproc", "2", "--quiet", *extra),
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
        distributed = read_json(ranks / "train_summary.json")
        assert distributed["stopped_by"] == "max_epochs"
        assert distributed["world_size"] == 2
    assert "× 2 ranks" in (ranks / "train.log").read_text(encoding="utf-8")
    assert summary["stopped_by"] == "max_epochs"
    assert summary["steps"] == distributed["steps"] == 2 * updates
    assert summary["target_tokens"] == distributed["target_tokens"]  # the same sentences were trained on

    one, two = train_losses(tmp_path / "single"), train_losses(ranks)
    assert [step for step, _ in two] == list(range(1, 2 * updates + 1))  # rank 0 alone logs, once per step
    assert [step for step, _ in one] == [step for step, _ in two]
    for (step, a), (_, b) in zip(one, two):
        assert b == pytest.approx(a, rel=1e-5, abs=1e-6), f"step {step}: {a} vs {b}"
    dev_one, dev_two = records(tmp_path / "single", "dev"), records(ranks, "dev")
    assert [r["step"] for r in dev_two] == [k * updates // 2 for k in (1, 2, 3, 4)]
    assert [r["loss"] for r in dev_one] == pytest.approx([r["loss"] for r in dev_two], abs=2e-4)
    weights_one = load_file(str(tmp_path / "single" / "checkpoints" / "last" / "model.safetensors"))
    weights_two = load_file(str(ranks / "checkpoints" / "last" / "model.safetensors"))
    for name, tensor in weights_one.items():
        torch.testing.assert_close(weights_two[name], tensor, rtol=1e-4, atol=1e-5, msg=name)
    # the checkpoint keeps every rank's random state, for an exact distributed resume
    state = read_json(ranks / "checkpoints" / "last" / "state.json")["train_state"]
    assert len(state["rank_rng"]) == 2


def test_rank_command_line_repeats_the_options_without_nproc() -> None:
    parser = build_parser()
    args = parser.parse_args(
        [
            "-v",
            "train",
            "c.yaml",
            "--set",
            "a.b=1",
            "--max-steps",
            "5",
            "--resume",
            "--nproc",
            "2",
            "--run-dir",
            "r",
        ]
    )
    _add_budget_overrides(args)
    argv = _rank_argv(args)
    assert argv == [
        "-v",
        "train",
        "c.yaml",
        "--set=a.b=1",
        "--set=training.max_steps=5",
        "--run-dir=r",
        "--resume",
    ]
    again = parser.parse_args(argv)
    assert (again.nproc, again.overrides, again.run_dir, again.resume, again.verbose) == (
        1,
        ["a.b=1", "training.max_steps=5"],
        "r",
        True,
        True,
    )
    command = torchrun_command(2, argv)
    assert command[1:3] == ["-m", "torch.distributed.run"]
    assert "--nproc-per-node=2" in command
    assert command[-len(argv) - 2 :] == ["-m", "yiyan", *argv]


def test_single_process_collectives_are_identities() -> None:
    group = Distributed(torch.device("cpu"))
    assert (group.world_size, group.rank, group.is_main) == (1, 0, True)
    assert group.sum([1.0, 2.5]) == [1.0, 2.5]
    assert group.max(2) == 2
    assert group.broadcast(("stop", 3)) == ("stop", 3)
    assert group.gather({"a": 1}) == [{"a": 1}]


def test_no_batch_for_the_ranks_is_a_clear_error(tmp_path: Path, template: Path) -> None:
    config = run_config(template, tmp_path / "run", "training.max_length=1", "training.max_steps=3")
    threads = torch.get_num_threads()
    try:
        with pytest.raises(YiyanError, match="no training batch for 1 rank"):
            train(config, quiet=True)
    finally:
        torch.set_num_threads(threads)
