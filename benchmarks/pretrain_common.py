"""What the pretraining benchmarks share (pretrain_curve, pretrain_filters, pretrain_finetune,
pretrain_scale): the recipe's data overrides, running `yiyan` commands as child processes, the
learning-curve points of a run (from metrics.jsonl and its kept checkpoints) and scoring any
model directory of a run on a TSV test set, outside the training clock.

Evaluation never counts against a training budget: the recipe trains with `eval_bleu: false`
(only the dev loss, seconds per evaluation) and keeps the weights of every evaluation
(`keep_checkpoints`); BLEU/chrF are computed afterwards from those weights. Each dev record of
metrics.jsonl carries `train_seconds` (updates and batch loading, evaluation excluded) and
`target_tokens` (pieces + EOS, common.target_tokens), the two x axes of a curve.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import REPO, run_child

RECIPE = REPO / "configs" / "pretrain-jiyu.yaml"


def data_overrides(data_dir: Path, flores: Path, scratch: Path, train_lines: int = 0) -> list[str]:
    """--set values pointing the recipe at the corpus: train = DATA/train.tsv (or its first
    `train_lines` lines, a uniform sample since the file is shuffled, written under `scratch`),
    dev = FLORES-200 dev, test = DATA/test.tsv."""
    train = data_dir / "train.tsv"
    if not train.is_file():
        raise SystemExit(f"{train}: not found (--data-dir is the jiyu-en-zh directory)")
    if not flores.is_file():
        raise SystemExit(f"{flores}: not found (--flores is flores200-dev/dev.tsv)")
    if train_lines:
        scratch.mkdir(parents=True, exist_ok=True)
        head = scratch / f"train-head{train_lines}.tsv"
        with open(train, encoding="utf-8") as source, open(head, "w", encoding="utf-8") as out:
            for number, line in enumerate(source):
                if number >= train_lines:
                    break
                out.write(line)
        train = head
    return [
        f"data.train={json.dumps(str(train))}",
        f"data.dev={json.dumps(str(flores))}",
        f"data.test={json.dumps(str(data_dir / 'test.tsv'))}",
    ]


def sets(overrides: Sequence[str]) -> list[str]:
    return [item for value in overrides for item in ("--set", value)]


def yiyan(args: Sequence[str], log: Path, threads: int) -> tuple[float, float]:
    """Run `python -m yiyan ARGS` to its end (output to `log`); (wall seconds, peak RSS GiB)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {"OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO / "src")}
    return run_child([sys.executable, "-m", "yiyan", *args], env=env, log=log)


def train_overrides(budget_s: float, eval_every: int, keep: int, threads: int) -> list[str]:
    """Training for a wall-clock budget, dev loss only every `eval_every` updates, keeping the
    weights of the last `keep` evaluations (scored afterwards)."""
    return [
        f"training.max_time={budget_s}",
        f"training.eval_every={eval_every}",
        "training.eval_bleu=false",
        "training.patience=0",
        f"training.keep_checkpoints={keep}",
        f"training.num_threads={threads}",
    ]


def seconds_per_update(run: Path) -> float:
    """Training seconds per update of a finished run (train_summary.json)."""
    summary = json.loads((run / "train_summary.json").read_text(encoding="utf-8"))
    return float(summary["train_seconds"]) / max(int(summary["steps"]), 1)


def dev_records(run: Path) -> list[dict[str, Any]]:
    """The dev records of a run's metrics.jsonl, by step."""
    records = []
    for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("kind") == "dev":
            records.append(record)
    return sorted(records, key=lambda record: int(record["step"]))


def read_test_set(path: Path) -> tuple[list[str], list[str]]:
    """Sources and references of a source<TAB>reference file (read as is: the scorer gets the
    references untouched, the translator normalizes the sources like any input)."""
    sources, refs = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        columns = line.split("\t")
        if len(columns) >= 2:
            sources.append(columns[0])
            refs.append(columns[1])
    return sources, refs


def score_model(
    run: Path, model_dir: Path, test: Path, beam: int, threads: int, max_lines: int = 0
) -> dict[str, Any]:
    """BLEU (sacrebleu, zh tokenizer for Chinese) and chrF of the weights in `model_dir` (a run, or
    one of its kept checkpoints) on `test` (its first `max_lines` pairs when > 0: smoke tests),
    decoded with `beam`, with the run's tokenizer."""
    import torch

    from yiyan.checkpoint import load_model
    from yiyan.data.tokenizer import Tokenizer
    from yiyan.metrics import score
    from yiyan.translator import Translator, load_run_config

    torch.set_num_threads(threads)
    config = load_run_config(run)
    translator = Translator(
        load_model(model_dir),
        Tokenizer.load(run / "tokenizer"),
        decoding=config.decoding,
        src_normalization=config.data.src_normalization,
    )
    sources, refs = read_test_set(test)
    if max_lines:
        sources, refs = sources[:max_lines], refs[:max_lines]
    hyps = translator.translate(sources, beam=beam)
    result = score(hyps, refs, config.data.tgt_lang)
    return {"bleu": round(float(result["bleu"]), 2), "chrf": round(float(result["chrf"]), 2)}


def kept_checkpoints(run: Path) -> dict[int, Path]:
    """{step: model directory} of the weights a run kept (checkpoints/keep/index.json)."""
    from yiyan.averaging import KEEP_DIR, read_index

    return {int(entry["step"]): run / KEEP_DIR / entry["dir"] for entry in read_index(run)}


def curve_points(run: Path, test: Path, beam: int, threads: int, max_lines: int = 0) -> list[dict[str, Any]]:
    """One point per kept checkpoint: step, training minutes, target tokens seen, dev loss, and the
    BLEU/chrF of its weights on `test` (evaluated now, outside the training clock)."""
    kept = kept_checkpoints(run)
    points = []
    for record in dev_records(run):
        step = int(record["step"])
        if step not in kept:
            continue
        scores = score_model(run, kept[step], test, beam, threads, max_lines)
        points.append(
            {
                "step": step,
                "minutes": round(float(record["train_seconds"]) / 60, 2),
                "target_tokens": int(record["target_tokens"]),
                "dev_loss": record["loss"],
                **scores,
            }
        )
        print(
            f"  step {step}: {points[-1]['minutes']} min, BLEU {scores['bleu']}, chrF {scores['chrf']}",
            flush=True,
        )
    return points


def plot_curve(points: Sequence[dict[str, Any]], path: Path, title: str) -> None:
    """BLEU against training minutes and against target tokens seen, side by side (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_time, by_tokens) = plt.subplots(1, 2, figsize=(10, 4))
    bleu = [p["bleu"] for p in points]
    by_time.plot([p["minutes"] for p in points], bleu, marker="o")
    by_time.set_xlabel("training minutes (evaluation excluded)")
    by_tokens.plot([p["target_tokens"] / 1e6 for p in points], bleu, marker="o")
    by_tokens.set_xlabel("target tokens seen (millions)")
    for axes in (by_time, by_tokens):
        axes.set_ylabel("FLORES-200 dev BLEU (tok zh)")
        axes.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
