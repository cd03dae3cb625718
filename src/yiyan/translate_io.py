"""`yiyan translate` input and output: lines, documents and subtitles, streamed.

    --input-format lines   one sentence per line (default; what `evaluate` uses)
    --input-format text    each line a paragraph: segmented into sentences, translated,
                           re-assembled (`translate_document`); blank lines and indentation kept
    --input-format srt|vtt subtitles: same cues and timings, text translated (yiyan.subtitles);
                           chosen automatically for a .srt / .vtt input file

Lines and text are a Unix filter: lines are read as they come and translated in batches; a
batch closes when it has `batch_lines` lines or when no new line has arrived for
`max_wait_ms` (so `tail -f log | yiyan translate RUN` prints each line about max_wait_ms plus
its translation time after it arrives), and its translations are written and flushed at once.
A file is read the same way: batches of `batch_lines` lines, each sorted by length and decoded
in `decoding.batch_size` groups. Subtitles are read whole (a cue needs its neighbours' numbering).

What was cut (sentences longer than decoding.max_input_tokens, translated in parts) is counted
and reported on stderr, never silent.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, TextIO, cast

from yiyan.errors import YiyanError
from yiyan.results import Translation
from yiyan.subtitles import parse_subtitles, subtitle_format

__all__ = ["INPUT_FORMATS", "TranslateReport", "input_format", "read_batches", "translate_stream"]

InputFormat = Literal["lines", "text", "srt", "vtt"]
INPUT_FORMATS = ("lines", "text", "srt", "vtt")
BATCH_LINES = 1024  # lines per streamed batch (each sorted by length, decoded in batch_size groups)
MAX_WAIT_MS = 50.0  # a batch closes after this long without a new line
_END = object()


@dataclass
class TranslateReport:
    lines: int = 0  # input lines (or cues)
    sentences: int = 0
    split: int = 0  # sentences cut into parts (longer than decoding.max_input_tokens)
    renumbered: int = 0  # subtitle cues with a missing or out-of-sequence index, kept as they are

    def summary(self) -> list[str]:
        notes = []
        if self.split:
            notes.append(
                f"{self.split} of {self.sentences} sentences were longer than decoding.max_input_tokens "
                "pieces and were translated in parts, cut at clause boundaries"
            )
        if self.renumbered:
            notes.append(
                f"subtitle cues with a missing or out-of-sequence number: {self.renumbered} (kept as they are)"
            )
        return notes


def input_format(requested: str | None, path: str | None) -> InputFormat:
    """`requested`, or srt/vtt for a .srt/.vtt file, else lines."""
    if requested is not None:
        if requested not in INPUT_FORMATS:
            raise YiyanError(f"unknown input format {requested!r}; choose one of {', '.join(INPUT_FORMATS)}")
        return requested  # type: ignore[return-value]
    return subtitle_format(path) or "lines"


def read_batches(
    stream: IO[str] | IO[bytes],
    *,
    batch_lines: int = BATCH_LINES,
    max_wait_ms: float = MAX_WAIT_MS,
    name: str = "<stdin>",
) -> Iterator[list[str]]:
    """The lines of `stream` (line ends removed) in batches: a batch is yielded when it has
    `batch_lines` lines, when no line has arrived for `max_wait_ms`, or at the end.

    A thread reads, so waiting for input never blocks a batch that is ready; invalid UTF-8 is a
    YiyanError naming the line."""
    lines: queue.Queue[object] = queue.Queue(maxsize=4 * batch_lines)

    def read() -> None:
        try:
            for number, line in enumerate(cast("Iterator[str | bytes]", stream), start=1):
                lines.put(_decode(line, number, name).rstrip("\r\n"))
            lines.put(_END)
        except Exception as error:
            lines.put(error)

    threading.Thread(target=read, name="yiyan-stdin", daemon=True).start()
    wait = max(max_wait_ms, 0.0) / 1000
    while True:
        item = lines.get()
        if item is _END:
            return
        batch: list[str] = []
        while True:
            if isinstance(item, BaseException):
                raise item
            batch.append(str(item))
            if len(batch) >= batch_lines:
                break
            try:
                item = lines.get(timeout=wait) if wait else lines.get_nowait()
            except queue.Empty:
                break
            if item is _END:
                yield batch
                return
        yield batch


def _decode(line: str | bytes, number: int, name: str) -> str:
    """A line read as bytes, decoded (so invalid UTF-8 is reported with its line; BOM dropped)."""
    if isinstance(line, str):
        return line
    try:
        return line.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as error:
        raise YiyanError(f"{name}: line {number}: not valid UTF-8 ({error.reason})") from None


def translate_stream(
    translator: Any,
    source: IO[str] | IO[bytes],
    out: IO[str],
    fmt: InputFormat,
    options: dict[str, Any],
    *,
    name: str = "<stdin>",
    format_line: Callable[[Translation], str] | None = None,
    batch_lines: int = BATCH_LINES,
    max_wait_ms: float = MAX_WAIT_MS,
) -> TranslateReport:
    """Translate `source` into `out` in format `fmt` (module doc); returns the counts.
    `format_line`: how a translated line is written in lines format (default: its text)."""
    report = TranslateReport()
    if fmt in ("srt", "vtt"):
        _translate_subtitles(translator, source, out, fmt, options, name, report)
        return report
    if fmt == "text" and not callable(getattr(translator, "translate_document", None)):
        raise YiyanError("--input-format text needs an engine with translate_document")
    if fmt == "text" and format_line is not None:
        raise YiyanError("--output-format jsonl needs --input-format lines")
    for batch in read_batches(source, batch_lines=batch_lines, max_wait_ms=max_wait_ms, name=name):
        report.lines += len(batch)
        if fmt == "text":
            documents = translator.translate_document(batch, **options)
            texts = [document.text for document in documents]
            report.sentences += sum(len(document.sentences) for document in documents)
            report.split += sum(document.split for document in documents)
        else:
            results: Sequence[Translation] = translator.translate_detailed(batch, **options)
            texts = [(format_line or _text)(result) for result in results]
            report.sentences += len(results)
            report.split += sum(result.parts > 1 for result in results)
        try:
            out.writelines(f"{text}\n" for text in texts)
            out.flush()
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as filters do
            _silence(out)
            break
    return report


def _silence(out: IO[str]) -> None:
    """Point `out`'s file descriptor at /dev/null, so the interpreter's last flush of a closed
    pipe does not print an error at exit."""
    with contextlib.suppress(OSError, ValueError):  # ValueError, OSError: not a real file
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())


def _text(translation: Translation) -> str:
    return translation.text


def _translate_subtitles(
    translator: Any,
    source: IO[str] | IO[bytes],
    out: IO[str],
    fmt: Literal["srt", "vtt"],
    options: dict[str, Any],
    name: str,
    report: TranslateReport,
) -> None:
    data = source.read()
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as error:
        raise YiyanError(f"{name}: not valid UTF-8 at byte {error.start + 1} ({error.reason})") from None
    subtitles = parse_subtitles(text, fmt, name)
    src_lang, tgt_lang = getattr(translator, "src_lang", "en"), getattr(translator, "tgt_lang", "zh")
    documents = translator.translate_document(subtitles.sources(src_lang), **options)
    out.write(subtitles.render([document.text for document in documents], tgt_lang))
    out.flush()
    report.lines = len(subtitles.cues)
    report.sentences = sum(len(document.sentences) for document in documents)
    report.split = sum(document.split for document in documents)
    report.renumbered = subtitles.renumbered


def open_input(path: str | None, stdin: TextIO) -> IO[bytes]:
    """The input file, or stdin, as bytes (decoded line by line); a missing file is a YiyanError."""
    if path is None:
        return stdin.buffer
    try:
        return open(Path(path), "rb")
    except FileNotFoundError:
        raise YiyanError(f"file not found: {path}") from None
    except OSError as error:
        raise YiyanError(f"cannot read {path}: {error.strerror}") from None
