"""Sentence segmentation, document layout and target-side joining, per language.

A document is translated sentence by sentence and put back together with its shape kept:

    "  - First point. Second point.\\n\\nNext paragraph!\\n"
      → lines:  prefix "  - ", sentences ["First point.", "Second point."], suffix "\\n"
                (blank line kept as it is)
                prefix "", sentences ["Next paragraph!"], suffix "\\n"

Each line is its own paragraph (a hard-wrapped sentence is not joined across lines, so a
line read from a pipe can be translated before the next one arrives). Leading whitespace and a
list marker ("- ", "* ", "• ", "1. ", "2) ", "(3) ", "四、") are kept as they are; trailing
whitespace and the line end too. The translated sentences of a line are joined the way the
target language writes them: with no space in Chinese or Japanese, one space elsewhere.

English and the other languages sentencex knows (Wikimedia's rule-based segmenter, ~300
languages, abbreviations such as "Dr." and "U.S." handled) go through sentencex; Chinese and
Japanese by rules: a sentence ends after 。！？； (or ASCII !?), an ellipsis …… or ..., and any
closing quotes or brackets that follow.

Also here: `split_clauses`, the boundaries at which an over-long sentence is cut (see
`yiyan.pipeline`), and `normalize_zh_punctuation` (ASCII , ? ! : ; between Chinese characters →
full-width), used at prepare time for Chinese training targets and optionally on output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Line",
    "assemble",
    "join_sentences",
    "normalize_zh_punctuation",
    "sentence_joiner",
    "split_clauses",
    "split_document",
    "split_sentences",
]

# languages written without spaces between sentences (and words)
NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo"})
RULE_LANGUAGES = frozenset({"zh", "ja"})  # segmented by _CJK_SENTENCE, not sentencex

_CLOSING = "”’」』）》〉】〕)\"'"
# a CJK sentence: anything up to its end marks (or the end of the text), the closing quotes or
# brackets right after them, and the whitespace that follows
_CJK_SENTENCE = re.compile(rf"[^。！？；!?…]*?(?:[。！？；!?]+|…+|\.{{3,}})[{_CLOSING}]*\s*|.+", re.DOTALL)

_LIST_MARKER = re.compile(
    r"""\s*(?:
        [-*+•·‣◦▪–—]\s+                      # bullets
      | \#{1,6}\s+                            # Markdown headings
      | [(（]?(?:\d{1,3}|[a-zA-Z]|[ivxIVX]{1,4})[.)）]\s+   # 1. 2) a. (iv)
      | [(（]\d{1,3}[)）]\s*                  # (3)
      | (?:\d{1,3}|[一二三四五六七八九十百]{1,3})、\s*       # 1、 四、
    )?""",
    re.VERBOSE,
)

# clause boundaries, strongest first: where an over-long sentence may be cut (after the mark
# and the whitespace that follows it)
CLAUSE_LEVELS: tuple[re.Pattern[str], ...] = (
    re.compile(rf"(?<=[.!?。！？…])[{_CLOSING}]*\s+|(?<=[。！？])[{_CLOSING}]*"),  # sentence ends
    re.compile(r"(?<=[;:；：])\s*"),  # semicolons, colons
    re.compile(r"(?<=[,，、])\s*|\s+(?=(?:and|but|or|which|that|because|while|when)\b)"),  # commas
    re.compile(r"\s+"),  # any space
)

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_FULL_WIDTH = {",": "，", "?": "？", "!": "！", ":": "：", ";": "；"}
# an ASCII , ? ! : ; with a Chinese character right before it and one after it (spaces allowed
# around the mark); the spaces go, the mark becomes full-width
_ZH_ASCII_PUNCT = re.compile(
    rf"(?<=[{_CJK}])\s*([,?!:;])\s*(?=[{_CJK}“‘「『（《])"
    rf"|(?<=[{_CJK}])([?!])(?=[”’」』）》]*\s*$)"  # and ? ! ending a Chinese sentence
)


def _base(lang: str) -> str:
    """'zh-Hans' / 'zh_TW' → 'zh'."""
    return re.split(r"[-_]", lang.lower(), maxsplit=1)[0]


def sentence_joiner(lang: str) -> str:
    return "" if _base(lang) in NO_SPACE_LANGUAGES else " "


def join_sentences(sentences: Sequence[str], lang: str) -> str:
    """Translated sentences (or pieces of one) as the target language writes them together."""
    return sentence_joiner(lang).join(s for s in sentences if s)


def split_sentences(text: str, lang: str) -> list[str]:
    """The sentences of `text`, each with the whitespace that follows it, so that
    ''.join(split_sentences(text, lang)) == text (an empty text has none)."""
    if not text:
        return []
    if _base(lang) in RULE_LANGUAGES:
        return [m.group() for m in _CJK_SENTENCE.finditer(text) if m.group()]
    from sentencex import segment

    pieces = list(segment(_base(lang), text))
    if "".join(pieces) != text:  # never lose a character, whatever the library does
        return [text]
    return pieces


@dataclass(frozen=True)
class Line:
    """One line of a document: `prefix` (indentation, list marker) and `suffix` (trailing
    whitespace, line end) are kept; `sentences` (stripped, non-empty) are translated."""

    prefix: str
    sentences: list[str]
    suffix: str


def split_line(line: str, lang: str) -> Line:
    body = line.rstrip()
    suffix = line[len(body) :]
    marker = _LIST_MARKER.match(body)
    prefix = marker.group() if marker else ""
    sentences = [s.strip() for s in split_sentences(body[len(prefix) :], lang)]
    return Line(prefix, [s for s in sentences if s], suffix)


def split_document(text: str, lang: str) -> list[Line]:
    """The lines of `text` (any line end: \\n, \\r\\n, …), each split into its sentences."""
    return [split_line(line, lang) for line in text.splitlines(keepends=True)]


def assemble(lines: Sequence[Line], translations: Sequence[Sequence[str]], lang: str) -> str:
    """The document again, with line i's sentences replaced by `translations[i]`."""
    return "".join(
        line.prefix + join_sentences(translated, lang) + line.suffix
        for line, translated in zip(lines, translations, strict=True)
    )


def split_clauses(text: str, level: int) -> list[str]:
    """`text` cut after each boundary of CLAUSE_LEVELS[level] (the pieces concatenate to `text`)."""
    pieces, start = [], 0
    for match in CLAUSE_LEVELS[level].finditer(text):
        if match.end() > start and match.end() < len(text):
            pieces.append(text[start : match.end()])
            start = match.end()
    pieces.append(text[start:])
    return [piece for piece in pieces if piece]


def normalize_zh_punctuation(text: str) -> tuple[str, int]:
    """ASCII , ? ! : ; between Chinese characters → ，？！：； (the spaces around them go), and
    ? ! ending a Chinese sentence; returns the text and the number of marks changed.
    "3:30", "OK, 好" and English are kept."""
    count = 0

    def full_width(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return _FULL_WIDTH[match.group(1) or match.group(2)]

    return _ZH_ASCII_PUNCT.sub(full_width, text), count
