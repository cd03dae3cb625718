"""The command line end to end: prepare → train → translate → evaluate → attention, and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from run_helpers import TINY
from yiyan.cli import main, parse_duration

ROOT = Path(__file__).resolve().parents[1]


def yiyan(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yiyan", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("cli") / "run"
    sets = [x for item in TINY for x in ("--set", item)]
    prepared = yiyan("prepare", "configs/demo.yaml", "--run-dir", str(run), *sets)
    assert prepared.returncode == 0, prepared.stderr
    assert (run / "prepare_report.json").is_file()
    trained = yiyan(
        "train",
        "configs/demo.yaml",
        "--run-dir",
        str(run),
        *sets,
        "--max-steps",
        "30",
        "--set",
        "training.eval_every=15",
        "--quiet",
    )
    assert trained.returncode == 0, trained.stderr
    return run


def test_translate_writes_one_line_per_input_line(trained_run: Path) -> None:
    result = yiyan("translate", str(trained_run), "--beam", "2", stdin="I love you.\n\nHello!\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert len(lines) == 4 and lines[-1] == ""  # three outputs, each ending in a newline
    assert lines[1] == ""  # empty input → empty output


def test_translate_to_a_file_writes_what_stdout_gets(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "hyps.zh"
    text = "I love you.\nHello!\n"
    to_file = yiyan("translate", str(trained_run), "--beam", "2", "-o", str(out), stdin=text)
    assert to_file.returncode == 0, to_file.stderr
    assert (
        out.read_text(encoding="utf-8")
        == yiyan("translate", str(trained_run), "--beam", "2", stdin=text).stdout
    )
    assert [p.name for p in out.parent.iterdir()] == ["hyps.zh"]  # written via a renamed temporary


def test_translate_cuts_overlong_input_and_says_so(trained_run: Path) -> None:
    long_line = "word " * 400
    result = yiyan("translate", str(trained_run), "--beam", "1", stdin=long_line + "\n")
    assert result.returncode == 0, result.stderr
    assert "1 of 1 sentences were longer than decoding.max_input_tokens" in result.stderr
    assert len(result.stdout.splitlines()) == 1


def test_evaluate_prints_bleu_chrf_and_signatures(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "hyps.txt"
    data = trained_run / "data"
    result = yiyan(
        "evaluate",
        str(trained_run),
        "--src",
        str(data / "test.en"),
        "--ref",
        str(data / "test.ref.zh"),
        "--beam",
        "1",
        "--output",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "BLEU" in result.stdout and "chrF" in result.stdout and "tok:zh" in result.stdout
    assert len(out.read_text(encoding="utf-8").splitlines()) == len(
        (data / "test.en").read_text().splitlines()
    )
    scores = json.loads(out.with_suffix(".scores.json").read_text())
    assert isinstance(scores["bleu"], float)


def test_evaluate_accepts_a_tsv(trained_run: Path, tmp_path: Path) -> None:
    tsv = tmp_path / "t.tsv"
    tsv.write_text("I love you.\t我爱你。\nThank you.\t谢谢。\n", encoding="utf-8")
    result = yiyan("evaluate", str(trained_run), "--tsv", str(tsv), "--beam", "1")
    assert result.returncode == 0, result.stderr
    assert "(2 sentences)" in result.stdout


def test_attention_heatmap_json(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "attn.json"
    result = yiyan("attention", str(trained_run), "I love you.", "-o", str(out), "--beam", "1")
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert len(data["attention"]) == len(data["tgt_tokens"])
    assert len(data["attention"][0]) == len(data["src_tokens"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["translate", "/nonexistent/run"], "not found"),
        (["train", "/nonexistent.yaml"], "config file not found"),
        (["train", "configs/demo.yaml", "--set", "training.bogus=1"], "unknown config key 'training.bogus'"),
        (["evaluate", "/nonexistent/run", "--tsv", "x.tsv"], "not found"),
    ],
)
def test_user_errors_are_one_line_without_traceback(args: list[str], message: str) -> None:
    result = yiyan(*args, stdin="")
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_corpus_line_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("Hello.\t你好。\nno tab here\n", encoding="utf-8")
    code = main(
        ["prepare", "configs/demo.yaml", "--run-dir", str(tmp_path / "r"), "--set", f"data.corpus={bad}"]
    )
    assert code == 2
    assert f"{bad}:2" in capsys.readouterr().err


def test_prepare_reuses_a_tokenizer_given_with_tokenizer(trained_run: Path, tmp_path: Path) -> None:
    """Runs that share one tokenizer (e.g. a filter comparison) have comparable dev losses."""
    sets = [x for item in [*TINY, "tokenizer.vocab_size=500"] for x in ("--set", item)]
    run = tmp_path / "shared-tokenizer"
    result = yiyan(
        "prepare",
        "configs/demo.yaml",
        "--run-dir",
        str(run),
        *sets,
        "--tokenizer",
        str(trained_run / "tokenizer"),
    )
    assert result.returncode == 0, result.stderr
    assert (run / "tokenizer" / "joint.model").read_bytes() == (
        trained_run / "tokenizer" / "joint.model"
    ).read_bytes()
    report = json.loads((run / "prepare_report.json").read_text(encoding="utf-8"))
    assert report["tokenizer"]["reused_from"] == str(trained_run / "tokenizer")
    assert report["tokenizer"]["src_vocab_size"] != 500  # the given tokenizer's size, not the config's

    missing = yiyan(
        "prepare", "configs/demo.yaml", "--run-dir", str(tmp_path / "r"), *sets, "--tokenizer", str(tmp_path)
    )
    assert missing.returncode == 2 and "no tokenizer in" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_every_subcommand_has_help() -> None:
    for command in ("prepare", "train", "finetune", "translate", "evaluate", "attention", "export", "serve"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0


def test_parse_duration() -> None:
    assert parse_duration("20m") == 1200 and parse_duration("90") == 90 and parse_duration("1.5h") == 5400
