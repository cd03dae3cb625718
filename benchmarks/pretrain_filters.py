"""Which noisy-data filters help? The recipe trained with the same budget on the JiYu corpus
cleaned by each filter set, scored on FLORES-200 dev.

    python benchmarks/pretrain_filters.py --data-dir /work/shared/data/jiyu-en-zh \\
        --flores /work/shared/data/flores200-dev/dev.tsv --budget 60m

Filter sets (FILTER_SETS; --sets picks some): `length` — only what every config does (empty,
too long, length ratio, duplicates; the data/filters.py checks off); `script` — plus the script
check alone; `recipe` — every filter configs/pretrain-jiyu.yaml switches on; `recipe+langid` —
plus langid.py; `recipe+score` (with --score-run, e.g. the curve's run) — plus model-score
filtering: that run force-scores every training pair and the worst --score-drop share goes
(data/score_filter.py). Per set: prepare (its drops by reason), train for --budget (dev loss only, the
best-by-dev-loss weights kept), then FLORES-dev BLEU/chrF of those weights (greedy unless --beam).
With --tokenizer every set reuses one tokenizer instead of training its own, so their FLORES-dev
losses (per target token) compare too: at short budgets, where BLEU is small, the steadier measure.
One seed: differences under ≈ 0.5 BLEU are within run-to-run noise (tell them apart with more
seeds, `--set training.seed=N`). Writes benchmarks/results/<--name>.json. Duration per set ≈
prepare (5–10 min; + ≈ 8 min with langid) + probe + budget + scoring; 4 sets at 60 min ≈ 5 h.
Smoke test: --train-lines 5000 --budget 1m --sets length recipe --name smoke --results-dir bench-out
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import REPO, write_result
from pretrain_common import data_overrides, score_model
from pretrain_curve import arguments, prepare_run, train_for_budget

FILTERS_OFF = [
    "data.drop_copies=false",
    "data.drop_urls=false",
    "data.max_digit_ratio=1",
    "data.max_repeat=0",
    "data.min_script_ratio=0",
    "data.langid=false",
]
FILTER_SETS: dict[str, list[str]] = {
    "length": FILTERS_OFF,
    "script": [*FILTERS_OFF, "data.min_script_ratio=0.3"],
    "recipe": [],
    "recipe+langid": ["data.langid=true"],
}
SCORE_SET = "recipe+score"  # the recipe + data.score_filter_run (needs --score-run)


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--sets", nargs="+", choices=[*FILTER_SETS, SCORE_SET], help="default: all")
    parser.add_argument(
        "--score-run", type=Path, help=f"a trained en→zh run whose forced scores rank the pairs ({SCORE_SET})"
    )
    parser.add_argument(
        "--score-drop", type=float, default=0.1, help=f"share of pairs {SCORE_SET} drops (default 0.1)"
    )
    parser.add_argument(
        "--tokenizer",
        type=Path,
        help="one tokenizer for every set (a run's tokenizer/ directory, e.g. the curve's): no tokenizer "
        "training per set, and the sets' FLORES-dev losses become comparable",
    )
    parser.add_argument("--out-dir", type=Path, default=REPO / "bench-out" / "pretrain-filters")
    parser.add_argument("--name", default="pretrain-filters", help="result name: <results-dir>/NAME.json")
    args = parser.parse_args()
    args.points = 4  # a few dev-loss evaluations: the best-by-dev-loss weights are scored
    if args.sets is None:
        args.sets = [*FILTER_SETS, *([SCORE_SET] if args.score_run else [])]
    if SCORE_SET in args.sets and args.score_run is None:
        parser.error(f"the set {SCORE_SET} needs --score-run (a trained run, e.g. bench-out/pretrain-curve)")
    filter_sets = {
        **FILTER_SETS,
        SCORE_SET: [
            f"data.score_filter_run={json.dumps(str(args.score_run))}",
            f"data.score_filter_drop_worst={args.score_drop}",
        ],
    }

    base = data_overrides(args.data_dir, args.flores, args.out_dir / "data", args.train_lines)
    rows: dict[str, Any] = {}
    for name in args.sets:
        run = args.out_dir / name.replace("+", "-")
        overrides = [*base, *filter_sets[name], *args.overrides]
        print(f"{name}: prepare", flush=True)
        prepared = prepare_run(args, run, overrides, reuse=False, tokenizer=args.tokenizer)
        print(f"{name}: train for {args.budget / 60:g} min", flush=True)
        training = train_for_budget(args, run, overrides, args.budget, args.points)
        scores = score_model(run, run, args.flores, args.beam, args.threads, args.score_lines)
        cleaning = next(iter(prepared["cleaning"].values()))
        rows[name] = {
            "overrides": filter_sets[name],
            "kept": cleaning["kept"],
            "dropped": cleaning["dropped"],
            "train_pairs": prepared["sentences"]["train"],
            "prepare_seconds": prepared.get("seconds"),
            "steps": training["steps"],
            "train_seconds": training["train_seconds"],
            "target_tokens": training["target_tokens"],
            # the dev set is FLORES dev: its loss per target token (label-smoothed, of the kept
            # weights) compares the sets only when they share a tokenizer (--tokenizer)
            "flores_dev_loss": -float(training["best_dev_score"]),
            "flores_dev": scores,
        }
        print(
            f"{name}: kept {cleaning['kept']}, FLORES dev BLEU {scores['bleu']} chrF {scores['chrf']}",
            flush=True,
        )
    results = {
        "budget_minutes": round(args.budget / 60, 2),
        "train_lines": args.train_lines or "all",
        "recipe": str(args.config),
        "overrides": args.overrides,
        "shared_tokenizer": str(args.tokenizer) if args.tokenizer else None,
        "scoring": {
            "test": "FLORES-200 dev",
            "lines": args.score_lines or 997,
            "beam": args.beam,
            "bleu_tokenize": "zh",
        },
        "sets": rows,
    }
    write_result(args.name, results, results_dir=args.results_dir)
    print(f"\n{'filters':<16} {'kept':>9} {'dev loss':>8} {'BLEU':>6} {'chrF':>6}")
    for name, row in rows.items():
        scores = row["flores_dev"]
        print(
            f"{name:<16} {row['kept']:>9,} {row['flores_dev_loss']:>8.3f} {scores['bleu']:>6} {scores['chrf']:>6}"
        )


if __name__ == "__main__":
    main()
