"""What the pretraining recipe's cleaning drops from the JiYu corpus, by reason: a data figure
(counts of pairs), not a timing, so it is valid on any machine, however busy.

    python benchmarks/pretrain_drops.py --data-dir /work/shared/data/jiyu-en-zh \\
        --flores /work/shared/data/flores200-dev/dev.tsv

Runs `yiyan prepare configs/pretrain-jiyu.yaml` on all of DATA/train.tsv (dev = FLORES dev,
test = DATA/test.tsv) into --run-dir — or, with --reuse-prepared, reads the report of a run already
prepared there — and writes benchmarks/results/<--name>.json: pairs read, kept and dropped per
reason (length, ratio, the data/filters.py checks, duplicates), decontamination, split sizes,
target tokens and pieces per sentence. Every line of the corpus goes through the cleaner: a line
that crashed prepare would fail this script. Duration: one prepare (≈ 6–10 min on a quiet 2-core
machine; 30 min on a machine shared eightfold).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import REPO, write_result
from pretrain_common import data_overrides
from pretrain_curve import arguments, prepare_run


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--run-dir", type=Path, default=REPO / "bench-out" / "pretrain-jiyu-prepare")
    parser.add_argument("--reuse-prepared", action="store_true", help="read the report of a prepared run")
    parser.add_argument("--name", default="pretrain-jiyu-drops", help="result name: <results-dir>/NAME.json")
    args = parser.parse_args()
    overrides = [
        *data_overrides(args.data_dir, args.flores, args.run_dir.parent, args.train_lines),
        *args.overrides,
    ]
    prepared = prepare_run(args, args.run_dir, overrides, args.reuse_prepared)
    prepared.pop("seconds", None)  # timings belong to prepare_scale.py, on a quiet machine
    prepared.pop("peak_rss_gib", None)
    write_result(
        args.name,
        {"recipe": str(args.config), "overrides": overrides, **prepared},
        results_dir=args.results_dir,
    )
    for name, entry in prepared["cleaning"].items():
        print(f"{name}: read {entry['read']:,}, kept {entry['kept']:,}, dropped {entry['dropped']}")


if __name__ == "__main__":
    main()
