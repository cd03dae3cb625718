"""A run directory holds one training run: starting it again must be asked for.

`yiyan train` (and `finetune`) on a run directory that already holds training output refuses
unless `--resume` (continue from its last checkpoint) or `--overwrite` (delete that output and
start again) is given, so that an old run is never silently mixed into a new one: without this,
metrics.jsonl would be appended to and `checkpoints/last` and `prev` replaced.

`--overwrite` keeps the prepared data (data/, tokenizer/, prepare_report.json): it depends only on
the `data` and `tokenizer` config, and `yiyan prepare` redoes it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from yiyan.checkpoint import has_training_checkpoint
from yiyan.errors import YiyanError

# Everything a training run writes into its directory (prepare's output excepted).
TRAINING_OUTPUTS = (
    "checkpoints",
    "metrics.jsonl",
    "train.log",
    "tensorboard",
    "model.safetensors",
    "model.json",
    "train_summary.json",
    "config.yaml",
    "finetune_report.json",
    "finetune_report.md",
    "eval",
)
# What shows that training has run here (config.yaml and model.json alone do not: a failed start).
TRAINED = ("metrics.jsonl", "model.safetensors")


def trained_here(run: Path) -> list[str]:
    """The names of the signs of an earlier training run in `run` (empty: none)."""
    found = ["checkpoints"] if has_training_checkpoint(run / "checkpoints") else []
    return found + [name for name in TRAINED if (run / name).exists()]


def claim_run_dir(run: str | Path, *, resume: bool, overwrite: bool) -> None:
    """Make `run` ready for a new or resumed training run, or refuse (see module doc)."""
    run = Path(run)
    if resume and overwrite:
        raise YiyanError("--resume continues a run and --overwrite deletes it: give one of them")
    if resume:
        return  # the trainer reports a missing checkpoint
    if overwrite:
        for name in TRAINING_OUTPUTS:
            path = run / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        return
    found = trained_here(run)
    if found:
        raise YiyanError(
            f"{run} already holds a training run ({', '.join(found)}): use --resume to continue it, "
            "or --overwrite to delete its checkpoints, metrics and logs and train again"
        )
