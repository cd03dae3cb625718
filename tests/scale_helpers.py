"""Helpers of the scale-out tests (distributed training, crash and resume): one prepared tiny
HSK run is copied into each test's run directory, and `yiyan` runs in child processes."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from run_helpers import tiny_config
from yiyan.config import Config
from yiyan.io import write_yaml
from yiyan.prepare import prepare

PREPARED = ("data", "tokenizer", "prepare_report.json")
# deterministic and small: one thread, fp32 whatever `auto` decides, no BLEU decoding
EXACT = ("training.num_threads=1", "training.precision=fp32", "training.eval_bleu=false")


def prepare_template(run: Path) -> Path:
    prepare(tiny_config(run), log=lambda message: None)
    return run


def run_config(template: Path, run: Path, *overrides: str) -> Config:
    """A tiny config whose run directory already holds the template's prepared data."""
    run.mkdir(parents=True, exist_ok=True)
    for name in PREPARED:
        source = template / name
        if source.is_dir():
            shutil.copytree(source, run / name)
        else:
            shutil.copy2(source, run / name)
    return tiny_config(run, *EXACT, *overrides)


def write_config(config: Config, path: Path) -> Path:
    write_yaml(path, config.to_dict())
    return path


def yiyan(*args: str) -> list[str]:
    return [sys.executable, "-m", "yiyan", *args]


def child_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def records(run: Path, kind: str) -> list[dict[str, Any]]:
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def train_losses(run: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in records(run, "train")]
