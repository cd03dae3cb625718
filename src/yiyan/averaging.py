"""Checkpoint averaging: keep the weights of the last N evaluations, average some of them.

With `training.keep_checkpoints: N` the trainer hands every evaluation's trained weights (not the
EMA) to `CheckpointKeeper`, which keeps the newest N:

    RUN/checkpoints/keep/step-0000800/model.safetensors + model.json   (a loadable model directory)
    RUN/checkpoints/keep/index.json      [{step, dir, dev_bleu, dev_loss}, …] oldest first; written
                                         after the weights, so it lists only complete ones

`yiyan average RUN --last N -o OUT` (or `--best N`, by dev BLEU) writes OUT as a normal run
directory — config.yaml, tokenizer/, model.json and the element-wise mean of the chosen weights
(1/N Σ θ_i, summed in float64) — that translate, evaluate, serve and export take like any run.
Averaging the last checkpoints of a run smooths the noise of the final updates (Vaswani et al.
2017 average the last 5–20); `--last 1` is simply the run's last trained weights.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from yiyan.checkpoint import load_model, load_model_config, save_model
from yiyan.errors import CheckpointError, YiyanError
from yiyan.io import read_json, write_json
from yiyan.models.base import Seq2SeqModel

KEEP_DIR = Path("checkpoints") / "keep"
INDEX = "index.json"
REPORT = "average.json"
RUN_FILES = ("config.yaml", "tokenizer")  # what an averaged run copies besides the weights


class CheckpointKeeper:
    """The newest `keep` evaluation checkpoints of a run, with their dev scores."""

    def __init__(self, run: str | Path, keep: int) -> None:
        self.root = Path(run) / KEEP_DIR
        self.keep = keep
        self.entries: list[dict[str, Any]] = read_index(Path(run)) if (self.root / INDEX).is_file() else []

    @classmethod
    def for_run(cls, run: str | Path, keep: int) -> CheckpointKeeper | None:
        """The keeper of `run`, or None when `keep` is 0 (off)."""
        return cls(run, keep) if keep > 0 else None

    def add(self, model: torch.nn.Module, step: int, record: dict[str, Any]) -> None:
        """Save `model`'s (trained) weights as the checkpoint of `step` with their dev scores from
        the trainer's dev `record` (`trained_*` when it validated the EMA); drop the oldest beyond `keep`."""
        name = f"step-{step:07d}"
        save_model(model, self.root / name)
        bleu, loss = (
            (record.get("trained_bleu"), record["trained_loss"])
            if "trained_loss" in record
            else (
                record.get("bleu"),
                record["loss"],
            )
        )
        entry = {"step": step, "dir": name, "dev_bleu": bleu, "dev_loss": loss}
        self.entries = [e for e in self.entries if e["step"] < step] + [entry]
        self._commit()

    def forget_after(self, step: int) -> None:
        """Resuming from `step`: drop checkpoints an interrupted run kept after it."""
        if any(e["step"] > step for e in self.entries):
            self.entries = [e for e in self.entries if e["step"] <= step]
            self._commit()

    def _commit(self) -> None:
        self.entries = self.entries[-self.keep :]
        write_json(self.root / INDEX, {"format": "yiyan-kept/1", "checkpoints": self.entries})
        listed = {e["dir"] for e in self.entries}
        for path in self.root.glob("step-*"):  # only after the index no longer lists them
            if path.name not in listed:
                shutil.rmtree(path, ignore_errors=True)


def read_index(run: Path) -> list[dict[str, Any]]:
    path = run / KEEP_DIR / INDEX
    if not path.is_file():
        raise CheckpointError(f"{path}: not found — train {run} with training.keep_checkpoints > 0")
    try:
        entries = read_json(path)["checkpoints"]
        return [
            {
                "step": int(e["step"]),
                "dir": str(e["dir"]),
                "dev_bleu": None if e["dev_bleu"] is None else float(e["dev_bleu"]),
                "dev_loss": float(e["dev_loss"]),
            }
            for e in entries
        ]
    except (ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{path}: corrupt index of kept checkpoints ({error})") from None


def select(entries: Sequence[dict[str, Any]], *, last: int | None, best: int | None) -> list[dict[str, Any]]:
    """The newest `last` entries, or the `best` by dev BLEU (ties: the newer one); oldest first."""
    count = last if last is not None else best
    if count is None or (last is not None and best is not None):
        raise YiyanError("give exactly one of --last N and --best N")
    if count < 1:
        raise YiyanError(f"the number of checkpoints to average must be >= 1, got {count}")
    if count > len(entries):
        raise YiyanError(f"asked to average {count} checkpoints, but the run kept only {len(entries)}")
    if last is not None:
        return list(entries[-count:])
    if any(e["dev_bleu"] is None for e in entries):
        raise YiyanError(
            "--best needs dev BLEU (the run was trained with training.eval_bleu: false); use --last"
        )
    chosen = sorted(entries, key=lambda e: (e["dev_bleu"], e["step"]), reverse=True)[:count]
    return sorted(chosen, key=lambda e: e["step"])


@torch.no_grad()
def average_models(directories: Sequence[Path]) -> Seq2SeqModel:
    """A model whose every floating-point tensor is the mean of the same tensor in `directories`."""
    model = load_model(directories[0])
    architecture = load_model_config(directories[0])
    state = model.state_dict()
    total = {key: value.double().clone() for key, value in state.items() if value.is_floating_point()}
    for directory in directories[1:]:
        if load_model_config(directory) != architecture:
            raise CheckpointError(f"{directory}: a different architecture than {directories[0]}")
        other = load_model(directory).state_dict()
        for key, value in total.items():
            value += other[key].double()
    for key, value in total.items():
        state[key].copy_(value / len(directories))
    return model


def average_run(
    run: str | Path, output: str | Path, *, last: int | None = None, best: int | None = None
) -> dict[str, Any]:
    """Write OUT: a run whose weights average the chosen kept checkpoints of RUN; return the report."""
    run = Path(run)
    chosen = select(read_index(run), last=last, best=best)
    model = average_models([run / KEEP_DIR / e["dir"] for e in chosen])
    report = {
        "source_run": str(run),
        "method": f"last {last}" if last is not None else f"best {best} by dev BLEU",
        "checkpoints": chosen,
    }
    write_run_like(run, output, model, report)
    return report


def write_run_like(
    run: str | Path, output: str | Path, model: torch.nn.Module, report: dict[str, Any]
) -> None:
    """Write OUT as a run directory with RUN's config and tokenizer, `model`'s weights and
    `report` (average.json); OUT must be new or empty."""
    run, output = Path(run), Path(output)
    if output.exists() and any(output.iterdir()):
        raise YiyanError(f"{output} exists and is not empty; choose another -o or remove it")
    for name in RUN_FILES:
        if not (run / name).exists():
            raise CheckpointError(f"{run / name}: not found — is {run} a trained yiyan run?")
    output.mkdir(parents=True, exist_ok=True)
    shutil.copy2(run / "config.yaml", output / "config.yaml")
    shutil.copytree(run / "tokenizer", output / "tokenizer", dirs_exist_ok=True)
    save_model(model, output)
    write_json(output / REPORT, report)
