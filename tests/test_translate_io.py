"""`yiyan translate` input formats: streaming lines, documents, subtitles (yiyan.translate_io,
yiyan.subtitles), with a model that has memorised a few phrases."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from run_helpers import overfit_run
from yiyan.cli import main
from yiyan.errors import DataError, YiyanError
from yiyan.subtitles import parse_subtitles, wrap
from yiyan.translate_io import input_format, read_batches
from yiyan.translator import Translator

ROOT = Path(__file__).resolve().parents[1]

SRT = """\ufeff1
00:00:01,000 --> 00:00:02,500
I love you.

2
00:00:03,000 --> 00:00:05,000
Thank you.
Good morning.

7
00:00:06,000 --> 00:00:07,000
- I like tea.
- I am hungry.

4
00:00:08,000 --> 00:00:09,000

"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return overfit_run(tmp_path_factory.mktemp("translate_io"))


@pytest.fixture(scope="module")
def translator(run: Path) -> Translator:
    return Translator.load(run, device="cpu")


# ----------------------------------------------------------------------------- streaming


def test_batches_close_at_the_line_limit() -> None:
    source = io.StringIO("".join(f"line {i}\r\n" for i in range(10)))
    assert [len(b) for b in read_batches(source, batch_lines=4)] == [4, 4, 2]
    assert list(read_batches(io.StringIO(""))) == []


def test_a_batch_closes_while_the_pipe_stays_open() -> None:
    """The first line comes out before the writer has written (or closed) anything else."""
    read_fd, write_fd = os.pipe()
    first_seen = threading.Event()

    def writer() -> None:
        with os.fdopen(write_fd, "w", encoding="utf-8") as pipe:
            pipe.write("first line\n")
            pipe.flush()
            first_seen.wait(timeout=60)  # a guard, not a measurement: fails below instead of hanging
            pipe.write("second line\n")

    thread = threading.Thread(target=writer)
    thread.start()
    with os.fdopen(read_fd, encoding="utf-8") as pipe:
        batches = read_batches(pipe, batch_lines=100, max_wait_ms=10)
        first = next(batches)
        assert not first_seen.is_set()  # the writer is still waiting: the pipe is open
        first_seen.set()
        assert first == ["first line"]
        assert list(batches) == [["second line"]]
    thread.join()


def test_invalid_utf8_names_the_line() -> None:
    source = io.BytesIO(b"ok\nstill ok\nbad \xff byte\n")
    with pytest.raises(YiyanError, match="line 3: not valid UTF-8"):
        list(read_batches(source, batch_lines=1, name="in.txt"))


def test_input_format_follows_the_file_name() -> None:
    assert input_format(None, "movie.SRT") == "srt"
    assert input_format(None, "talk.vtt") == "vtt"
    assert input_format(None, None) == "lines"
    assert input_format("text", "movie.srt") == "text"


def test_stdin_is_a_unix_filter(run: Path) -> None:
    """`yiyan translate RUN` answers each line while its stdin is still open."""
    process = subprocess.Popen(
        [sys.executable, "-m", "yiyan", "translate", str(run), "--beam", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        answers: list[str] = []
        for line in ("I love you.", "Thank you."):
            process.stdin.write(line + "\n")
            process.stdin.flush()
            reader = threading.Thread(target=lambda: answers.append(process.stdout.readline()))  # type: ignore[union-attr]
            reader.start()
            reader.join(timeout=120)  # a guard against a hang, not a measurement
            assert not reader.is_alive(), "no output while stdin is open: not streaming"
        assert answers == ["我爱你。\n", "谢谢你。\n"]
    finally:
        process.stdin.close()
        process.wait(timeout=60)
    assert process.returncode == 0


def test_a_reader_that_goes_away_ends_the_filter_quietly(run: Path) -> None:
    """`... | yiyan translate RUN | head -1`: no traceback, exit 0."""
    process = subprocess.Popen(
        [sys.executable, "-m", "yiyan", "translate", str(run), "--beam", "1", "--batch-lines", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    process.stdin.write("I love you.\n")
    process.stdin.flush()
    assert process.stdout.readline() == "我爱你。\n"
    process.stdout.close()  # like head -1 exiting
    process.stdin.write("Thank you.\n" * 50)
    process.stdin.close()
    assert process.wait(timeout=120) == 0
    err = process.stderr.read()
    assert "Traceback" not in err and "BrokenPipe" not in err, err


# ----------------------------------------------------------------------------- documents


def test_text_mode_keeps_paragraphs_and_translates_each_sentence(
    run: Path, tmp_path: Path, translator: Translator, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "doc.txt"
    source.write_text("I love you. Thank you.\n\n  - I like tea.\n", encoding="utf-8")
    assert main(["translate", str(run), "-i", str(source), "--input-format", "text", "--beam", "1"]) == 0
    out = capsys.readouterr().out
    one_by_one = translator.translate(["I love you.", "Thank you.", "I like tea."], beam=1)
    assert out == f"{one_by_one[0]}{one_by_one[1]}\n\n  - {one_by_one[2]}\n"
    assert out == "我爱你。谢谢你。\n\n  - 我喜欢茶。\n"


def test_overlong_sentences_are_counted_on_stderr(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "long.txt"
    source.write_text("I love you, thank you, I like tea, see you tomorrow.\nI love you.\n", encoding="utf-8")
    assert main(["translate", str(run), "-i", str(source), "--beam", "1", "--max-input-tokens", "8"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert "1 of 2 sentences were longer than decoding.max_input_tokens" in captured.err


def test_bad_input_never_loses_a_line(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = ["", "😀😀 !!!", "。。。", "Hello 你好 мир", "   ", "I love you."]
    source = tmp_path / "odd.txt"
    source.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    for fmt in ("lines", "text"):
        assert main(["translate", str(run), "-i", str(source), "--input-format", fmt, "--beam", "1"]) == 0
        out = capsys.readouterr().out.split("\n")
        assert len(out) == len(lines) + 1 and out[0] == "" and out[-2] == "我爱你。"
        assert "⁇" not in "".join(out)


# ----------------------------------------------------------------------------- subtitles


def test_srt_round_trip_keeps_every_cue_and_timing(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "movie.srt"
    source.write_text(SRT, encoding="utf-8")
    out = tmp_path / "movie.zh.srt"
    assert main(["translate", str(run), "-i", str(source), "-o", str(out), "--beam", "1"]) == 0
    assert "cues with a missing or out-of-sequence number: 1 (kept" in capsys.readouterr().err  # "7"
    translated = parse_subtitles(out.read_text(encoding="utf-8"), "srt")
    original = parse_subtitles(SRT, "srt")
    assert [c.timing for c in translated.cues] == [c.timing for c in original.cues]
    assert [c.header for c in translated.cues] == [["1"], ["2"], ["7"], ["4"]]
    texts = [c.text for c in translated.cues]
    assert texts[0] == ["我爱你。"]
    assert "".join(texts[1]) == "谢谢你。早上好。" and len(texts[1]) == 2  # wrapped like the source
    assert texts[2] == ["- 我喜欢茶。", "- 我饿了。"]  # dialogue: line by line
    assert texts[3] == []  # an empty cue stays, empty


def test_webvtt_keeps_its_header_and_notes(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "talk.vtt"
    source.write_text(
        "WEBVTT\n\nNOTE made by hand\n\nintro\n00:01.000 --> 00:02.000 align:start\nI love you.\n",
        encoding="utf-8",
    )
    assert main(["translate", str(run), "-i", str(source), "--beam", "1"]) == 0
    assert capsys.readouterr().out == (
        "WEBVTT\n\nNOTE made by hand\n\nintro\n00:01.000 --> 00:02.000 align:start\n我爱你。\n"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "1\n00:00:01,000 --> 00:00:02,000\nHi.\n\nsecond paragraph of cue 1\n",
            r"bad.srt:5: cue 2: no timing line .*after cue 1",
        ),
        ("1\n00:00:01 -> 00:00:02\nHi.\n", r"bad.srt:1: cue 1: no timing line"),
        ("1\n00:00:01,000 --> soon\nHi.\n", r"bad.srt:2: cue 1: malformed timing"),
    ],
)
def test_malformed_srt_is_an_error_naming_the_line_and_cue(text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_subtitles(text, "srt", "bad.srt")


def test_malformed_srt_from_the_cli_is_one_line(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bad.srt"
    source.write_text("1\n00:00:01,000 --> 00:00:02,000\nHi.\n\noops\n", encoding="utf-8")
    assert main(["translate", str(run), "-i", str(source)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.srt" in err and "bad.srt:5: cue 2" in err


def test_wrap_balances_lines() -> None:
    assert wrap("one two three four", 2, "en") == ["one two", "three four"]
    assert wrap("谢谢你。早上好。", 2, "zh") == ["谢谢你。", "早上好。"]
    assert wrap("好", 3, "zh") == ["好"]
    assert "".join(wrap("我们今天去公园玩吧", 2, "zh")) == "我们今天去公园玩吧"
