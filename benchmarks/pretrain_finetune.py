"""Pretrain → fine-tune on real data: the JiYu-pretrained recipe fine-tuned on Tatoeba (with and
without mixing) against Tatoeba-only training at equal total wall-clock, and fine-tuned on HSK.

    python benchmarks/pretrain_finetune.py --pretrained bench-out/pretrain-curve \\
        --tatoeba /work/shared/data/tatoeba-cmn --flores /work/shared/data/flores200-dev/dev.tsv \\
        --finetune-budget 10m

--pretrained is a run trained by pretrain_curve.py (configs/pretrain-jiyu.yaml). Models, one after
another (each `yiyan` command a child process with --threads):
  pretrained              the pretrained run as is;
  tatoeba-ft              `yiyan finetune` on Tatoeba train (configs/finetune-hsk.yaml's optimizer,
                          Tatoeba data), --finetune-budget;
  tatoeba-ft-mix          the same with finetune.mix_ratio=--mix-ratio JiYu pairs in every batch;
  tatoeba-scratch         --scratch-config (default configs/tatoeba-budget.yaml, the best Tatoeba-only
                          recipe of docs/benchmarks.md §14) from scratch on Tatoeba alone for the
                          pretrained run's wall-clock (its train_summary.json) + --finetune-budget:
                          equal total compute with pretraining + fine-tuning. Its learning rate
                          decays to 0 at max_steps, so max_steps is fitted to that budget from a
                          probe of --probe-steps updates;
  hsk-ft                  `yiyan finetune` on HSK (configs/finetune-hsk.yaml), --finetune-budget.
Each is scored on the Tatoeba test set, FLORES-200 dev and (HSK models) the HSK test split, with beam
--beam (BLEU tok zh, chrF), after training. Writes benchmarks/results/<--name>.json with the headline
deltas: fine-tuned − scratch on Tatoeba test (target ≥ +3) and FLORES-dev kept with mixing.
--set KEY=VALUE changes the fine-tuning runs' recipe (e.g. model.dropout=0.1); --models trains and
scores a subset (a fine-tuning variant beside an earlier call's scratch baseline).
Duration ≈ 3 × budget + (pretrained minutes + budget) + scoring (≈ 1–2 min per model and test set
at beam 5). Smoke test: a pretrained smoke run, --finetune-budget 1m --tatoeba-lines 3000
--name smoke --results-dir bench-out
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import REPO, write_result
from pretrain_common import score_model, seconds_per_update, sets, yiyan
from yiyan.cli import parse_duration
from yiyan.config import load_config

MODELS = ["pretrained", "tatoeba-ft", "tatoeba-ft-mix", "tatoeba-scratch", "hsk-ft"]
FINETUNE_CONFIG = REPO / "configs" / "finetune-hsk.yaml"
SCRATCH_CONFIG = REPO / "configs" / "tatoeba-budget.yaml"


def head(path: Path, lines: int, out: Path) -> Path:
    """The first `lines` lines of `path` (all of it when 0), for smoke tests."""
    if not lines:
        return path
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(path, encoding="utf-8") as source:
        out.write_text("".join(line for _, line in zip(range(lines), source)), encoding="utf-8")
    return out


def split_tsv(run: Path, split: str, out: Path) -> Path:
    """A prepared run's split as source<TAB>untouched reference (e.g. HSK's held-out test)."""
    config = json.loads((run / "prepare_report.json").read_text(encoding="utf-8"))
    src = (run / "data" / f"{split}.{config['src_lang']}").read_text(encoding="utf-8").splitlines()
    ref = (run / "data" / f"{split}.ref.{config['tgt_lang']}").read_text(encoding="utf-8").splitlines()
    out.write_text("".join(f"{s}\t{r}\n" for s, r in zip(src, ref, strict=True)), encoding="utf-8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pretrained", type=Path, required=True, help="run trained by pretrain_curve.py")
    parser.add_argument(
        "--tatoeba", type=Path, required=True, help="tatoeba-cmn directory (train/dev/test.tsv)"
    )
    parser.add_argument("--flores", type=Path, required=True, help="FLORES-200 dev: flores200-dev/dev.tsv")
    parser.add_argument("--finetune-budget", type=parse_duration, default=600.0, help="e.g. 10m")
    parser.add_argument("--mix-ratio", type=float, default=0.2, help="JiYu share per batch when mixing")
    parser.add_argument("--tatoeba-lines", type=int, default=0, help="Tatoeba train: first N pairs (smoke)")
    parser.add_argument("--scratch-config", type=Path, default=SCRATCH_CONFIG, help="Tatoeba-only recipe")
    parser.add_argument("--probe-steps", type=int, default=30, help="updates of the scratch speed probe")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument(
        "--score-lines", type=int, default=0, help="score on the first N pairs of each test set (smoke)"
    )
    parser.add_argument(
        "--set",
        dest="finetune_overrides",
        action="append",
        default=[],
        help="config override for the fine-tuning runs (e.g. model.dropout=0.1), repeatable",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        choices=MODELS,
        default=MODELS,
        help="train and score only these (default: all)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out-dir", type=Path, default=REPO / "bench-out" / "pretrain-finetune")
    parser.add_argument("--name", default="pretrain-finetune", help="result name: <results-dir>/NAME.json")
    parser.add_argument("--results-dir", type=Path, help="where the JSON goes (default benchmarks/results)")
    args = parser.parse_args()

    out, threads, budget = args.out_dir, args.threads, args.finetune_budget
    pretrained_summary = json.loads((args.pretrained / "train_summary.json").read_text(encoding="utf-8"))
    pretrain_seconds = float(pretrained_summary["wall_seconds"])
    tatoeba_train = head(args.tatoeba / "train.tsv", args.tatoeba_lines, out / "tatoeba-train.tsv")
    # --score-lines (smoke tests) also shortens the dev/test sets `yiyan finetune` decodes
    tatoeba_test = head(args.tatoeba / "test.tsv", args.score_lines, out / "tatoeba-test.tsv")
    tatoeba_dev = head(args.tatoeba / "dev.tsv", args.score_lines, out / "tatoeba-dev.tsv")
    hsk_sizes = (
        [f"data.test_size={args.score_lines}", f"data.dev_size={args.score_lines}"]
        if args.score_lines
        else []
    )
    tatoeba_data = [
        "data.corpus=null",
        f"data.train={json.dumps(str(tatoeba_train))}",
        f"data.dev={json.dumps(str(tatoeba_dev))}",
        f"data.test={json.dumps(str(tatoeba_test))}",
    ]
    finetune = [
        "finetune",
        str(args.pretrained),
        str(FINETUNE_CONFIG),
        *sets(args.finetune_overrides),
        "--overwrite",
        "--quiet",
    ]
    scratch = ["train", str(args.scratch_config), *sets(tatoeba_data), "--overwrite", "--quiet"]
    scratch_budget = pretrain_seconds + budget
    scratch_steps, scratch_sets = 0, []  # set only when the scratch baseline is trained (--models)
    if "tatoeba-scratch" in args.models:
        probe = out / "tatoeba-scratch-probe"
        # the probe only times updates: no evaluation, and a schedule that allows a few steps
        probe_sets = sets(["training.eval_every=1000000000", "training.schedule=constant"])
        probe_args = [*scratch, *probe_sets, "--max-steps", str(args.probe_steps), "--run-dir", str(probe)]
        yiyan(probe_args, out / "tatoeba-scratch-probe.log", threads)
        scratch_steps = max(2, int(scratch_budget / seconds_per_update(probe)))
        print(f"tatoeba-scratch: {scratch_steps} updates fit {scratch_budget / 60:.1f} min", flush=True)
        scratch_sets = [f"training.max_steps={scratch_steps}", f"training.num_threads={threads}"]
        if scratch_steps <= load_config(args.scratch_config).training.warmup_steps:  # smoke-test budgets
            scratch_sets.append(f"training.warmup_steps={scratch_steps // 10}")
    jobs: dict[str, tuple[list[str], Path]] = {
        "tatoeba-ft": ([*finetune, *sets(tatoeba_data), "--max-time", f"{budget}"], out / "tatoeba-ft"),
        "tatoeba-ft-mix": (
            [
                *finetune,
                *sets([*tatoeba_data, f"finetune.mix_ratio={args.mix_ratio}"]),
                "--max-time",
                f"{budget}",
            ],
            out / "tatoeba-ft-mix",
        ),
        "tatoeba-scratch": (
            [
                *scratch,
                *sets(scratch_sets),
                *["--max-time", f"{scratch_budget}"],
            ],
            out / "tatoeba-scratch",
        ),
        "hsk-ft": ([*finetune, *sets(hsk_sizes), "--max-time", f"{budget}"], out / "hsk-ft"),
    }
    runs = {"pretrained": args.pretrained} if "pretrained" in args.models else {}
    seconds: dict[str, float] = {"pretrained": pretrain_seconds}
    for name, (command, run) in jobs.items():
        if name not in args.models:
            continue
        print(f"{name}: {' '.join(command[:3])} …", flush=True)
        seconds[name], _ = yiyan([*command, "--run-dir", str(run)], out / f"{name}.log", threads)
        runs[name] = run
    # HSK's held-out test split, as the fine-tuning prepared it (the same split_seed every time)
    hsk_run = runs["hsk-ft"] if "hsk-ft" in runs else out / "hsk-ft"
    hsk_test = split_tsv(hsk_run, "test", out / "hsk-test.tsv") if (hsk_run / "data").is_dir() else None

    models: dict[str, Any] = {}
    for name, run in runs.items():
        tests = {"tatoeba_test": tatoeba_test, "flores_dev": args.flores}
        if name in ("pretrained", "hsk-ft") and hsk_test is not None:
            tests["hsk_test"] = hsk_test
        models[name] = {
            test: score_model(run, run, path, args.beam, threads, args.score_lines)
            for test, path in tests.items()
        }
        models[name]["wall_seconds"] = round(seconds[name], 1)
        print(f"{name}: {models[name]}", flush=True)

    def delta(a: str, b: str, test: str) -> float | None:
        if test not in models.get(a, {}) or test not in models.get(b, {}):
            return None  # a model this call did not train (--models)
        return round(models[a][test]["bleu"] - models[b][test]["bleu"], 2)

    results = {
        "pretrained_run": str(args.pretrained),
        "finetune_budget_minutes": round(budget / 60, 2),
        "scratch_budget_minutes": round(scratch_budget / 60, 2),
        "scratch_config": str(args.scratch_config),
        "scratch_max_steps": scratch_steps or None,
        "finetune_overrides": args.finetune_overrides,
        "mix_ratio": args.mix_ratio,
        "tatoeba_lines": args.tatoeba_lines or "all",
        "scoring": {"beam": args.beam, "bleu_tokenize": "zh", "lines": args.score_lines or "all"},
        "models": models,
        "deltas": {
            "tatoeba test: fine-tuned − scratch (target ≥ +3)": delta(
                "tatoeba-ft", "tatoeba-scratch", "tatoeba_test"
            ),
            "tatoeba test: fine-tuned with mixing − scratch": delta(
                "tatoeba-ft-mix", "tatoeba-scratch", "tatoeba_test"
            ),
            "FLORES dev lost by fine-tuning, without mixing": delta("pretrained", "tatoeba-ft", "flores_dev"),
            "FLORES dev lost by fine-tuning, with mixing": delta(
                "pretrained", "tatoeba-ft-mix", "flores_dev"
            ),
            "HSK test: fine-tuned − pretrained": delta("hsk-ft", "pretrained", "hsk_test"),
        },
    }
    write_result(args.name, results, results_dir=args.results_dir)
    for key, value in results["deltas"].items():
        if value is not None:
            print(f"  {key}: {value:+.2f} BLEU")


if __name__ == "__main__":
    main()
