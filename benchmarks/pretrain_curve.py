"""The pretraining learning curve: FLORES-200 dev BLEU/chrF against training minutes and target
tokens seen, for the recipe configs/pretrain-jiyu.yaml on the JiYu corpus.

    python benchmarks/pretrain_curve.py --data-dir /work/shared/data/jiyu-en-zh \\
        --flores /work/shared/data/flores200-dev/dev.tsv --budget 60m

Steps (each `yiyan` command a child process, OMP_NUM_THREADS=--threads):
  1. `yiyan prepare` the recipe on DATA/train.tsv (dev = FLORES dev, test = DATA/test.tsv):
     seconds and peak RSS recorded, and the cleaning report (every dropped pair by reason);
  2. a probe of --probe-steps updates gives seconds per update, from which `eval_every` is set so
     that the budget yields about --points evaluations (or give --eval-every);
  3. `yiyan train` for --budget of wall-clock time with dev loss only at each evaluation (a few
     seconds) and the weights of every evaluation kept;
  4. each kept checkpoint is decoded on FLORES dev (greedy unless --beam) and scored (sacrebleu BLEU
     with the zh tokenizer, chrF) — after training, so decoding never eats the budget. Minutes on
     the curve are the training clock (updates + batch loading; evaluation excluded).
Writes benchmarks/results/<--name>.json (common.write_result) and the plot --plot (PNG). The run
directory (--run-dir, default bench-out/pretrain-curve) keeps the trained model for
pretrain_finetune.py. Duration ≈ prepare (≈ 5–10 min for 500k pairs) + probe (≈ 1 min) + budget +
scoring (≈ 30 s per point at 997 sentences, greedy). Never run two benchmarks at once on 2 cores.
Smoke test: --train-lines 20000 --budget 2m --name smoke --results-dir bench-out --plot bench-out/curve.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import REPO, write_result
from pretrain_common import (
    RECIPE,
    curve_points,
    data_overrides,
    plot_curve,
    score_model,
    seconds_per_update,
    sets,
    train_overrides,
    yiyan,
)
from yiyan.cli import parse_duration
from yiyan.prepare import is_prepared


def arguments(description: str | None) -> argparse.ArgumentParser:
    """The options every pretraining benchmark takes (data, budget, run directory, results)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data-dir", type=Path, required=True, help="the jiyu-en-zh directory (train/test.tsv)"
    )
    parser.add_argument("--flores", type=Path, required=True, help="FLORES-200 dev: flores200-dev/dev.tsv")
    parser.add_argument("--budget", type=parse_duration, default=3600.0, help="training wall-clock, e.g. 60m")
    parser.add_argument(
        "--config", type=Path, default=RECIPE, help="the recipe (default configs/pretrain-jiyu.yaml)"
    )
    parser.add_argument(
        "--train-lines", type=int, default=0, help="train on the first N pairs only (smoke tests)"
    )
    parser.add_argument("--points", type=int, default=12, help="evaluations over the budget (default 12)")
    parser.add_argument(
        "--eval-every", type=int, default=0, help="updates between evaluations (0: from a probe)"
    )
    parser.add_argument("--probe-steps", type=int, default=30, help="updates of the speed probe (default 30)")
    parser.add_argument(
        "--beam", type=int, default=1, help="beam for scoring checkpoints (default 1: greedy)"
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    parser.add_argument(
        "--score-lines", type=int, default=0, help="score on the first N FLORES pairs (smoke)"
    )
    parser.add_argument("--workers", type=int, default=2, help="yiyan prepare --workers (default 2)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="extra config override")
    parser.add_argument("--results-dir", type=Path, help="where the JSON goes (default benchmarks/results)")
    return parser


def prepare_run(
    args: argparse.Namespace, run: Path, overrides: list[str], reuse: bool, tokenizer: Path | None = None
) -> dict[str, Any]:
    """Prepare `run` (unless `reuse` and it is prepared), with `tokenizer` (a tokenizer/ directory)
    instead of training one when given; the cleaning report with time and RSS."""
    timing: dict[str, Any] = {"reused": True}
    if not (reuse and is_prepared(run)):
        seconds, rss = yiyan(
            [
                "prepare",
                str(args.config),
                *sets(overrides),
                "--run-dir",
                str(run),
                "--workers",
                str(args.workers),
                *(["--tokenizer", str(tokenizer)] if tokenizer else []),
            ],
            run.parent / f"{run.name}-prepare.log",
            args.threads,
        )
        timing = {"reused": False, "seconds": round(seconds, 1), "peak_rss_gib": rss, "workers": args.workers}
    report = json.loads((run / "prepare_report.json").read_text(encoding="utf-8"))
    return {
        **timing,
        "cleaning": report["cleaning"],
        "decontamination": report["decontamination"],
        "sentences": report["sentences"],
        "tokens": report["tokens"],
    }


def train_for_budget(
    args: argparse.Namespace, run: Path, overrides: list[str], budget_s: float, points: int
) -> dict[str, Any]:
    """Probe the speed (unless --eval-every), then train `run` for `budget_s` with about `points`
    evaluations; returns the run's train_summary.json with the eval_every used."""
    eval_every = args.eval_every
    base = ["train", str(args.config), *sets(overrides), "--run-dir", str(run), "--overwrite", "--quiet"]
    log = run.parent / f"{run.name}-train.log"
    if not eval_every:
        probe = train_overrides(0, args.probe_steps, 0, args.threads)
        yiyan([*base, *sets(probe), "--max-steps", str(args.probe_steps)], log, args.threads)
        per_update = seconds_per_update(run)
        eval_every = max(1, round(budget_s / points / per_update))
        print(f"  probe: {per_update:.2f} s/update → eval_every {eval_every}", flush=True)
    yiyan(
        [*base, *sets(train_overrides(budget_s, eval_every, 2 * points + 4, args.threads))], log, args.threads
    )
    summary: dict[str, Any] = json.loads((run / "train_summary.json").read_text(encoding="utf-8"))
    return {**summary, "eval_every": eval_every}


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--run-dir", type=Path, default=REPO / "bench-out" / "pretrain-curve")
    parser.add_argument("--reuse-prepared", action="store_true", help="skip prepare when the run is prepared")
    parser.add_argument("--name", default="pretrain-curve", help="result name: <results-dir>/NAME.json")
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "img" / "pretrain-curve.png")
    args = parser.parse_args()

    run: Path = args.run_dir
    overrides = data_overrides(args.data_dir, args.flores, run.parent / "pretrain-data", args.train_lines)
    overrides += args.overrides
    print(f"prepare {run}", flush=True)
    prepared = prepare_run(args, run, overrides, args.reuse_prepared)
    print(f"train for {args.budget / 60:g} min", flush=True)
    training = train_for_budget(args, run, overrides, args.budget, args.points)
    print("score the kept checkpoints on FLORES dev", flush=True)
    points = curve_points(run, args.flores, args.beam, args.threads, args.score_lines)
    final = score_model(
        run, run, args.flores, args.beam, args.threads, args.score_lines
    )  # the best-by-dev-loss weights
    results = {
        "recipe": str(args.config.relative_to(REPO) if args.config.is_relative_to(REPO) else args.config),
        "overrides": overrides,
        "budget_minutes": round(args.budget / 60, 2),
        "train_lines": args.train_lines or "all",
        "scoring": {
            "test": "FLORES-200 dev",
            "lines": args.score_lines or 997,
            "beam": args.beam,
            "bleu_tokenize": "zh",
        },
        "prepare": prepared,
        "training": training,
        "points": points,
        "final_model": final,
    }
    write_result(args.name, results, results_dir=args.results_dir)
    label = f"{results['recipe']}, {args.budget / 60:g} min, {args.threads} threads"
    plot_curve(points, args.plot, f"Pretraining on JiYu: FLORES dev BLEU ({label})")
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
