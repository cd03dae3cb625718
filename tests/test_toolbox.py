"""The practitioner's toolbox on a real (memorised) run: forced scoring, n-best, sampling,
ensembles and glossaries through the Translator and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from run_helpers import PHRASES, overfit_run
from yiyan.cli import main
from yiyan.errors import DataError
from yiyan.scoring import SCORE_COLUMNS, score_pairs, score_tsv
from yiyan.translate import Translator


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return overfit_run(tmp_path_factory.mktemp("toolbox"))


@pytest.fixture(scope="module")
def translator(run: Path) -> Translator:
    return Translator.load(run, device="cpu")


def test_forced_score_of_a_translation_is_its_search_score(translator: Translator) -> None:
    sources = [en for en, _ in PHRASES[:6]]
    for beam in (1, 4):
        found = translator.translate_detailed(sources, beam=beam)
        forced = score_pairs(translator, [(t.source, t.text) for t in found])
        for translation, score in zip(found, forced, strict=True):
            assert score.log_prob == pytest.approx(translation.score, abs=1e-3)
            assert score.target_tokens == len(translation.tgt_tokens) + 1  # pieces + </s>
            assert score.mean_log_prob == pytest.approx(score.log_prob / score.target_tokens)


def test_forced_scores_rank_right_pairs_above_wrong_ones(translator: Translator) -> None:
    right = score_pairs(translator, PHRASES, batch_size=5)
    wrong = score_pairs(
        translator, [(en, PHRASES[(i + 3) % len(PHRASES)][1]) for i, (en, _) in enumerate(PHRASES)]
    )
    assert all(r.mean_log_prob > w.mean_log_prob + 1.0 for r, w in zip(right, wrong, strict=True))
    # the batch composition does not change a pair's score
    alone = score_pairs(translator, PHRASES[3:4])[0]
    assert alone.log_prob == pytest.approx(right[3].log_prob, abs=1e-4)
    # length normalisation follows beam search: log_prob / tokens ** alpha
    half = score_pairs(translator, PHRASES[3:4], length_penalty=0.5)[0]
    assert half.normalised_score == pytest.approx(alone.log_prob / alone.target_tokens**0.5)


def test_score_tsv_writes_one_line_per_pair(translator: Translator, tmp_path: Path) -> None:
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("".join(f"{en}\t{zh}\n" for en, zh in PHRASES[:4]), encoding="utf-8")
    out = tmp_path / "scores.tsv"
    assert score_tsv(translator, tsv, out) == 4
    header, *rows = out.read_text(encoding="utf-8").splitlines()
    assert header.split("\t") == list(SCORE_COLUMNS)
    expected = score_pairs(translator, PHRASES[:4])
    assert [float(row.split("\t")[0]) for row in rows] == pytest.approx(
        [s.log_prob for s in expected], abs=1e-3
    )


def test_score_cli_and_a_one_column_tsv(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("I love you.\t我爱你。\nThank you.\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"pairs\.tsv:2: "):
        score_tsv(run, tsv, tmp_path / "never.tsv")
    assert main(["score", str(run), "--tsv", str(tsv), "-o", str(tmp_path / "s.tsv")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("yiyan: error:") and "pairs.tsv:2" in error and len(error.splitlines()) == 1
    tsv.write_text("I love you.\t我爱你。\n", encoding="utf-8")
    assert main(["score", str(run), "--tsv", str(tsv), "-o", str(tmp_path / "s.tsv"), "--device", "cpu"]) == 0
    assert len((tmp_path / "s.tsv").read_text(encoding="utf-8").splitlines()) == 2
