"""The practitioner's toolbox on a real (memorised) run: forced scoring, n-best, sampling,
ensembles and glossaries through the Translator and the CLI."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import pytest

from run_helpers import PHRASES, overfit_run
from yiyan.cli import main
from yiyan.data.tokenizer import Tokenizer
from yiyan.ensemble import ensemble_translator
from yiyan.errors import CheckpointError, ConfigError, DataError
from yiyan.glossary import glossary_from_pairs, term_accuracy
from yiyan.scoring import SCORE_COLUMNS, score_pairs, score_tsv
from yiyan.translator import Translator


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


# ----------------------------------------------------------------------------- n-best and sampling


def test_nbest_through_the_translator(translator: Translator) -> None:
    sources = [en for en, _ in PHRASES[:5]]
    plain = translator.translate_detailed(sources, beam=4)
    found = translator.translate_detailed(sources, beam=4, nbest=3)
    for one, listed in zip(plain, found, strict=True):
        assert listed.text == one.text and len(listed.nbest) == 3
        assert listed.nbest[0].text == one.text and listed.nbest[0].log_prob == pytest.approx(one.score)
        scores = [a.normalised_score for a in listed.nbest]
        assert scores == sorted(scores, reverse=True)
    with pytest.raises(ConfigError, match=r"nbest \(5\) cannot exceed the beam size \(4\)"):
        translator.translate(sources, beam=4, nbest=5)


def test_translate_cli_jsonl_nbest_and_sampling(run: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("I love you.\n\nThank you.\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    args = ["translate", str(run), "-i", str(source), "-o", str(out), "--device", "cpu"]
    assert main([*args, "--beam", "3", "--nbest", "2", "--output-format", "jsonl"]) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["source"] for r in records] == ["I love you.", "", "Thank you."]
    assert records[0]["text"] == "我爱你。" and records[2]["text"] == "谢谢你。"
    assert [len(r["nbest"]) for r in records] == [2, 0, 2]
    assert set(records[0]["nbest"][0]) == {"text", "log_prob", "normalised_score"}
    samples = [
        *args,
        "--sampling",
        "--nbest",
        "4",
        "--temperature",
        "1.5",
        "--seed",
        "3",
        "--output-format",
        "jsonl",
    ]
    assert main(samples) == 0
    first = out.read_text(encoding="utf-8")
    assert main(samples) == 0
    assert out.read_text(encoding="utf-8") == first  # the same seed, the same samples
    assert [len(json.loads(line)["nbest"]) for line in first.splitlines()] == [4, 0, 4]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--beam", "2", "--nbest", "3"], r"nbest \(3\) cannot exceed the beam size \(2\)"),
        (["--sampling", "--top-p", "0"], r"top_p must be in \(0, 1\]"),
        (["--sampling", "--top-p", "1.2"], r"top_p must be in \(0, 1\]"),
        (["--sampling", "--temperature", "0"], "temperature must be > 0"),
        (["--temperature", "0.5"], "--temperature needs --sampling"),
    ],
)
def test_translate_cli_refuses_bad_search_options(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    source = tmp_path / "in.txt"
    source.write_text("I love you.\n", encoding="utf-8")
    assert main(["translate", str(run), "-i", str(source), "--device", "cpu", *flags]) == 2
    error = capsys.readouterr().err
    assert re.search(message, error) and len(error.splitlines()) == 1


# ----------------------------------------------------------------------------- ensembles


def test_translate_cli_ensemble_of_a_run_with_itself_is_the_run(run: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("".join(f"{en}\n" for en, _ in PHRASES), encoding="utf-8")
    outputs = {}
    for name, extra in (("alone", []), ("ensemble", ["--ensemble", str(run)])):
        out = tmp_path / f"{name}.jsonl"
        flags = ["--beam", "3", "--nbest", "3", "--output-format", "jsonl", "--device", "cpu"]
        assert main(["translate", str(run), "-i", str(source), "-o", str(out), *flags, *extra]) == 0
        outputs[name] = out.read_text(encoding="utf-8")
    assert outputs["ensemble"] == outputs["alone"]


def test_ensemble_of_runs_with_different_vocabularies_is_refused(
    run: Path, tmp_path: Path, data_tokenizer: Tokenizer, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    shutil.copytree(run, other)
    shutil.rmtree(other / "tokenizer")
    data_tokenizer.save(other / "tokenizer")
    with pytest.raises(CheckpointError, match="different vocabularies"):
        ensemble_translator(run, [other], device="cpu")
    assert main(["translate", str(run), "--ensemble", str(other), "--device", "cpu"]) == 2
    assert "different vocabularies" in capsys.readouterr().err


# ----------------------------------------------------------------------------- glossary


def test_glossary_forces_target_terms_only_where_the_source_term_occurs(translator: Translator) -> None:
    sources = ["I love you.", "I LOVE tea.", "Thank you.", "I like tea."]
    plain = translator.translate(sources, beam=4)
    assert "喜欢" not in plain[0]
    glossary = glossary_from_pairs([("love", "喜欢"), ("lov", "老师")])  # "lov" is no whole word here
    found = translator.translate(sources, beam=4, glossary=glossary)
    assert "喜欢" in found[0] and "喜欢" in found[1]
    assert found[2:] == plain[2:]  # no source term: as without the glossary
    assert all("老师" not in text for text in found)
    assert term_accuracy(glossary, sources, found) == {"terms": 2, "found": 2, "accuracy": 1.0}
    assert term_accuracy(glossary, sources, plain)["found"] == sum("喜欢" in text for text in plain[:2])


def test_translate_cli_glossary_and_its_bad_lines(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.txt"
    source.write_text("I love you.\nThank you.\n", encoding="utf-8")
    terms = tmp_path / "terms.tsv"
    terms.write_text("love\t喜欢\n", encoding="utf-8")
    out = tmp_path / "out.txt"
    args = ["translate", str(run), "-i", str(source), "-o", str(out), "--device", "cpu", "--beam", "4"]
    assert main([*args, "--glossary", str(terms)]) == 0
    first, second = out.read_text(encoding="utf-8").splitlines()
    assert "喜欢" in first and second == "谢谢你。"
    for content, message in [
        ("love\t喜欢\n\n", "terms.tsv:2: empty line"),
        ("love 喜欢\n", "terms.tsv:1: no tab"),
        ("love\t喜欢\textra\n", "terms.tsv:1: 3 columns"),
        ("\t喜欢\n", "terms.tsv:1: empty source term"),
        ("love\t" + "喜欢" * 200 + "\n", "calls for target terms of .* more than its maximum output length"),
    ]:
        terms.write_text(content, encoding="utf-8")
        assert main([*args, "--glossary", str(terms)]) == 2
        error = capsys.readouterr().err
        assert re.search(message, error) and len(error.splitlines()) == 1, error
    with pytest.raises(ConfigError, match="glossary entry 1: expected two non-empty terms"):
        glossary_from_pairs([("love", "")])


def test_rest_translate_takes_a_glossary(translator: Translator) -> None:
    with warnings.catch_warnings():  # starlette warns that its TestClient will move to httpx2
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from yiyan.serve.app import create_app
    from yiyan.serve.settings import ServeSettings

    with TestClient(create_app(translator, ServeSettings()), raise_server_exceptions=False) as client:
        body = {"texts": ["I love you.", "Thank you."], "beam": 4}
        plain = client.post("/translate", json=body).json()["translations"]
        found = client.post("/translate", json={**body, "glossary": [["love", "喜欢"]]}).json()[
            "translations"
        ]
        assert "喜欢" not in plain[0]["text"] and "喜欢" in found[0]["text"]
        assert found[1]["text"] == plain[1]["text"] == "谢谢你。"
        bad = client.post("/translate", json={**body, "glossary": [["love"]]})
        assert bad.status_code == 422 and "glossary[0]" in bad.text
        long = client.post("/translate", json={**body, "glossary": [["love", "喜欢" * 200]]})
        assert long.status_code == 422 and "maximum output length" in long.json()["error"]
