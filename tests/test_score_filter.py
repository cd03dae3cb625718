"""Score-based corpus filtering at prepare time: a model that knows the language pair ranks
misaligned pairs last, and `data.score_filter_drop_worst` drops exactly them, counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from run_helpers import PHRASES, overfit_run, tiny_config
from yiyan.config import load_config
from yiyan.data.score_filter import worst_indices
from yiyan.errors import ConfigError, YiyanError
from yiyan.io import read_json
from yiyan.prepare import prepare

# the memorised phrases with their targets shifted by one: every pair misaligned
MISALIGNED = [(PHRASES[i][0], PHRASES[(i + 5) % len(PHRASES)][1]) for i in range(4)]


def test_worst_indices_takes_the_floor_share_lowest_first() -> None:
    assert worst_indices([0.0, -3.0, -1.0, -3.0, 2.0], 0.5) == {1, 3}  # floor(2.5) = 2
    assert worst_indices([-1.0, -1.0, 0.0], 0.34) == {1}  # tie: the later pair goes
    assert worst_indices([1.0, 2.0], 0.0) == set()


def test_prepare_drops_the_misaligned_pairs_and_counts_them(tmp_path: Path) -> None:
    (tmp_path / "scorer").mkdir()
    scorer = overfit_run(tmp_path / "scorer")
    noisy = tmp_path / "noisy.tsv"
    pairs = PHRASES[:6] + MISALIGNED[:2] + PHRASES[6:] + MISALIGNED[2:]
    noisy.write_text("".join(f"{en}\t{zh}\n" for en, zh in pairs), encoding="utf-8")
    held_out = tmp_path / "held.tsv"
    held_out.write_text("Good night.\t晚安。\nHow are you?\t你好吗？\n", encoding="utf-8")
    run = tmp_path / "run"
    config = tiny_config(
        run,
        "data.corpus=null",
        f"data.train={noisy}",
        f"data.dev={held_out}",
        f"data.test={held_out}",
        "tokenizer.vocab_size=120",
        f"data.score_filter_run={scorer}",
        "data.score_filter_drop_worst=0.25",  # 16 pairs → 4 dropped
    )
    report = prepare(config, log=lambda message: None)

    kept_src = (run / "data" / "train.en").read_text(encoding="utf-8").splitlines()
    kept_tgt = (run / "data" / "train.zh").read_text(encoding="utf-8").splitlines()
    assert list(zip(kept_src, kept_tgt, strict=True)) == PHRASES  # misaligned gone, order kept
    entry = report["score_filter"]
    assert (entry["scored"], entry["dropped"]) == (16, 4)
    assert entry["mean_score_after"] > entry["mean_score_before"]
    assert report["cleaning"]["train"]["dropped"]["low_score"] == 4
    assert report["sentences"]["train"] == 12
    assert read_json(run / "prepare_report.json")["score_filter"]["dropped"] == 4


def test_score_filter_needs_a_run_and_a_trained_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="score_filter_run"):
        load_config(None, ["data.score_filter_drop_worst=0.1"])
    with pytest.raises(ConfigError, match="score_filter_drop_worst"):
        load_config(None, [f"data.score_filter_run={tmp_path}", "data.score_filter_drop_worst=1.0"])
    config = tiny_config(
        tmp_path / "run", f"data.score_filter_run={tmp_path / 'nothing'}", "data.score_filter_drop_worst=0.1"
    )
    with pytest.raises(YiyanError, match="not a trained run"):
        prepare(config, log=lambda message: None)
