"""Subtitles (SubRip .srt, WebVTT .vtt): every cue and timing kept, only the text translated.

    1                                  index (SRT) or identifier (WebVTT): kept as it is
    00:00:01,000 --> 00:00:03,500      timing line (WebVTT: settings after it too): kept as it is
    - Where are you going?             text lines: translated
    - Home.

A cue's text lines are one utterance wrapped for the screen: they are joined (with a space, or
nothing in Chinese/Japanese), translated as a document (so several sentences are segmented),
and wrapped again into as many lines as the source had. Dialogue cues — every line starting
with "-" — are translated line by line. WebVTT's header, NOTE, STYLE and REGION blocks are
kept as they are.

Malformed input is an error that names the file, the line and the cue: a block without a
timing line (e.g. a blank line inside a cue's text), or a timing line that is not
`start --> end`. An SRT index that is missing or out of sequence is kept as it is and counted
(`Subtitles.renumbered`) — it loses nothing. No cue is ever dropped: an empty cue stays empty.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from yiyan.errors import DataError
from yiyan.segment import sentence_joiner

__all__ = ["Cue", "SubtitleFormat", "Subtitles", "parse_subtitles", "subtitle_format", "wrap"]

SubtitleFormat = Literal["srt", "vtt"]
_TIME = r"(?:\d+:)?\d{1,2}:\d{2}[,.]\d{1,3}"
_TIMING = re.compile(rf"\s*{_TIME}\s*-->\s*{_TIME}(?:\s.*)?$")
_VTT_VERBATIM = ("WEBVTT", "NOTE", "STYLE", "REGION")
_DIALOGUE = re.compile(r"\s*[-–—]")


def subtitle_format(path: str | None) -> SubtitleFormat | None:
    """ "srt" or "vtt" for a file name ending so, else None."""
    if path is None:
        return None
    lower = path.lower()
    return "srt" if lower.endswith(".srt") else "vtt" if lower.endswith(".vtt") else None


@dataclass
class Cue:
    """A cue (`timing` set) or a block kept verbatim (WebVTT header, NOTE…: `timing` None)."""

    header: list[str]  # lines before the timing line (SRT index, WebVTT identifier), or the block
    timing: str | None
    text: list[str] = field(default_factory=list)
    line: int = 0  # 1-based line of the block's first line

    @property
    def is_dialogue(self) -> bool:
        return len(self.text) > 1 and all(_DIALOGUE.match(line) for line in self.text)


@dataclass
class Subtitles:
    format: SubtitleFormat
    blocks: list[Cue]
    newline: str = "\n"
    renumbered: int = 0  # SRT cues whose index was missing or out of sequence (kept as they are)

    @property
    def cues(self) -> list[Cue]:
        return [block for block in self.blocks if block.timing is not None]

    def sources(self, src_lang: str) -> list[str]:
        """The text of each cue to translate: dialogue lines one per line, other cues as one line."""
        joiner = sentence_joiner(src_lang)
        return [
            "\n".join(cue.text) if cue.is_dialogue else joiner.join(line.strip() for line in cue.text)
            for cue in self.cues
        ]

    def render(self, translations: Sequence[str], tgt_lang: str) -> str:
        """The file again with cue i's text replaced by `translations[i]` (wrapped to its lines)."""
        if len(translations) != len(self.cues):
            raise ValueError(f"{len(translations)} translations for {len(self.cues)} cues")
        texts = iter(translations)
        blocks = []
        for block in self.blocks:
            lines = list(block.header)
            if block.timing is not None:
                translated = next(texts)
                lines.append(block.timing)
                if block.is_dialogue:
                    lines += translated.split("\n")
                elif block.text:
                    lines += wrap(translated, len(block.text), tgt_lang)
            blocks.append(self.newline.join(lines))
        end = self.newline if blocks else ""
        return (self.newline * 2).join(blocks) + end


def parse_subtitles(text: str, fmt: SubtitleFormat, name: str = "<input>") -> Subtitles:
    """Parse SRT or WebVTT; a malformed cue is a DataError naming `name`, its line and cue."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.removeprefix("\ufeff").splitlines()
    blocks: list[Cue] = []
    renumbered, start = 0, 0
    block: list[str] = []
    for number, line in enumerate([*lines, ""], start=1):
        if line.strip():
            if not block:
                start = number
            block.append(line)
            continue
        if not block:
            continue
        cue = _parse_block(block, start, fmt, name, len([b for b in blocks if b.timing is not None]) + 1)
        if cue.timing is not None and fmt == "srt":
            expected = str(len([b for b in blocks if b.timing is not None]) + 1)
            renumbered += [line.strip() for line in cue.header] != [expected]
        blocks.append(cue)
        block = []
    if fmt == "vtt" and not (
        blocks and blocks[0].timing is None and blocks[0].header[0].startswith("WEBVTT")
    ):
        raise DataError(name, 1, "not a WebVTT file: the first line must be WEBVTT")
    return Subtitles(fmt, blocks, newline, renumbered)


def _parse_block(block: list[str], start: int, fmt: SubtitleFormat, name: str, cue_number: int) -> Cue:
    if fmt == "vtt" and block[0].startswith(_VTT_VERBATIM):
        return Cue(block, None, [], start)
    arrows = [i for i, line in enumerate(block) if "-->" in line]
    if not arrows:
        previous = f" (after cue {cue_number - 1}: a blank line inside its text?)" if cue_number > 1 else ""
        raise DataError(
            name, start, f"cue {cue_number}: no timing line 'start --> end'{previous}: {block[0][:60]!r}"
        )
    timing = arrows[0]
    if not _TIMING.match(block[timing]):
        raise DataError(
            name,
            start + timing,
            f"cue {cue_number}: malformed timing {block[timing].strip()[:60]!r} "
            "(expected e.g. 00:00:01,000 --> 00:00:03,500)",
        )
    return Cue(block[:timing], block[timing], block[timing + 1 :], start)


def wrap(text: str, lines: int, lang: str) -> list[str]:
    """`text` in at most `lines` lines of similar length, broken at spaces (or, in languages
    written without spaces, after punctuation where there is some, else between characters)."""
    text = text.strip()
    if not text:
        return []  # an empty translation leaves the cue empty (a blank line would end it)
    if lines <= 1:
        return [text]
    spaced = sentence_joiner(lang) == " "
    if spaced:
        breaks = [m.end() for m in re.finditer(r"\s+", text)]
    else:
        breaks = [m.end() for m in re.finditer(r"[，。！？；：、,.!?;:]", text)][:-1] or list(
            range(1, len(text))
        )
    result, start = [], 0
    for k in range(1, lines):
        target = len(text) * k / lines
        candidates = [b for b in breaks if start < b < len(text)]
        if not candidates:
            break
        cut = min(candidates, key=lambda b: abs(b - target))
        result.append(text[start:cut].strip())
        start = cut
    result.append(text[start:].strip())
    return [line for line in result if line]
