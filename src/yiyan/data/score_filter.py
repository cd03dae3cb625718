"""Score-based corpus filtering: drop the training pairs a trained model finds least probable.

    data:
      score_filter_run: runs/tatoeba-ref-s1   # any trained run of the same direction
      score_filter_drop_worst: 0.1            # share of training pairs to drop

`prepare` calls `filter_training_pairs` once the training split is written, before the
tokenizer is trained on it: every training pair is force-scored by the run's model
(`yiyan.scoring.score_pairs`, the length-normalised log-probability that beam search ranks by,
i.e. the per-token mean log-probability at the default length penalty 1), and the
floor(drop_worst × pairs) lowest-scoring pairs are dropped (ties: the later pair goes first),
the rest rewritten in their order. Misaligned pairs, wrong-language targets and truncated
translations score far below the rest (Junczys-Dowmunt 2018 filter on the same signal, with
two directions). The drops are counted in the report like the cleaner's (`low_score`), and
the report's `score_filter` entry records the run, the share and the threshold score.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yiyan.config import DataConfig
from yiyan.data.corpus import read_lines
from yiyan.errors import YiyanError
from yiyan.io import atomic_write

REASON = "low_score"


def worst_indices(scores: list[float], drop_worst: float) -> set[int]:
    """Indices of the floor(drop_worst × n) lowest scores (on a tie, the later index is dropped)."""
    count = math.floor(drop_worst * len(scores))
    ranked = sorted(range(len(scores)), key=lambda i: (scores[i], -i))
    return set(ranked[:count])


def filter_training_pairs(
    data: DataConfig, src_path: Path, tgt_path: Path, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Score the pairs of the two line-aligned training files with `data.score_filter_run`, drop
    the worst `data.score_filter_drop_worst` share in place; return the report entry."""
    from yiyan.scoring import score_pairs  # loads torch and the model: only when filtering

    run = Path(str(data.score_filter_run))
    if not (run / "model.json").is_file():
        raise YiyanError(f"data.score_filter_run: {run} is not a trained run (no model.json)")
    pairs = list(zip(read_lines(src_path), read_lines(tgt_path), strict=True))
    log(
        f"scoring {len(pairs)} training pairs with {run} to drop the worst {data.score_filter_drop_worst:.1%}"
    )
    scores = [s.normalised_score for s in score_pairs(run, pairs)]
    dropped = worst_indices(scores, data.score_filter_drop_worst)
    with atomic_write(src_path) as src_out, atomic_write(tgt_path) as tgt_out:
        for i, (src, tgt) in enumerate(pairs):
            if i not in dropped:
                src_out.write(src + "\n")
                tgt_out.write(tgt + "\n")
    kept_scores = [score for i, score in enumerate(scores) if i not in dropped]
    return {
        "run": str(run),
        "drop_worst": data.score_filter_drop_worst,
        "scored": len(pairs),
        "dropped": len(dropped),
        "threshold": round(min(kept_scores), 4) if kept_scores and dropped else None,
        "mean_score_before": round(sum(scores) / len(scores), 4) if scores else None,
        "mean_score_after": round(sum(kept_scores) / len(kept_scores), 4) if kept_scores else None,
    }


def count_drops(report: dict[str, Any], entry: dict[str, Any]) -> None:
    """Book the score filter's drops in the prepare report: the training corpus's cleaning entry
    (`dropped.low_score`, `kept`) and the train split size."""
    report["score_filter"] = entry
    main = next(iter(report["cleaning"].values()))  # the training corpus comes first
    main["dropped"][REASON] = entry["dropped"]
    main["kept"] -= entry["dropped"]
    report["sentences"]["train"] -= entry["dropped"]
