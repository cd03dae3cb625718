"""Language codes, names and a script-based guess of which of a run's languages a text is in.

A run translates one pair (say en → zh), so "detection" only has to tell the run's own
languages apart. It counts the letters of each writing system: Han characters are Chinese,
Latin letters English, and so on. Two languages written in the same script (en and de) get
the same score — script alone cannot tell them apart, and the answer says so by a tie.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

NAMES = {
    "ar": "Arabic",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "fa": "Persian",
    "fr": "French",
    "he": "Hebrew",
    "hi": "Hindi",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "nl": "Dutch",
    "pt": "Portuguese",
    "ru": "Russian",
    "th": "Thai",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "vi": "Vietnamese",
    "zh": "Chinese",
}

# (first, last) code points of each script's letters; anything alphabetic below U+0250 is Latin.
SCRIPT_RANGES = {
    "Han": [(0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3134F)],
    "Kana": [(0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F)],
    "Hangul": [(0x1100, 0x11FF), (0x3130, 0x318F), (0xAC00, 0xD7AF)],
    "Cyrillic": [(0x0400, 0x052F)],
    "Greek": [(0x0370, 0x03FF)],
    "Arabic": [(0x0600, 0x06FF), (0x0750, 0x077F)],
    "Hebrew": [(0x0590, 0x05FF)],
    "Thai": [(0x0E00, 0x0E7F)],
    "Devanagari": [(0x0900, 0x097F)],
    "Latin": [(0x0041, 0x024F), (0x1E00, 0x1EFF)],
}
# The scripts a language is written in; a language not listed is written in Latin letters.
LANGUAGE_SCRIPTS = {
    "zh": {"Han"},
    "ja": {"Han", "Kana"},
    "ko": {"Hangul", "Han"},
    "ru": {"Cyrillic"},
    "uk": {"Cyrillic"},
    "bg": {"Cyrillic"},
    "el": {"Greek"},
    "ar": {"Arabic"},
    "fa": {"Arabic"},
    "he": {"Hebrew"},
    "th": {"Thai"},
    "hi": {"Devanagari"},
}


def base_code(code: str) -> str:
    """'zh-Hans', 'zh_CN', 'ZH' → 'zh' (the primary subtag, lower case)."""
    return code.strip().replace("_", "-").split("-")[0].lower()


def name_of(code: str) -> str:
    return NAMES.get(base_code(code), code)


def script_of(char: str) -> str | None:
    if not char.isalpha():
        return None
    point = ord(char)
    for script, ranges in SCRIPT_RANGES.items():
        if any(first <= point <= last for first, last in ranges):
            return script
    return "Other"


@dataclass(frozen=True)
class Guess:
    language: str
    confidence: float  # 0..100: the share of the text's letters written in this language's script


def detect(text: str, languages: Sequence[str]) -> list[Guess]:
    """Score each of `languages` for `text`, best first (ties keep the order given).

    With no letters at all every language scores 0 and the first (the run's source) leads.
    """
    counts: dict[str, int] = {}
    for char in text:
        script = script_of(char)
        if script is not None:
            counts[script] = counts.get(script, 0) + 1
    letters = sum(counts.values())
    guesses = []
    for language in languages:
        scripts = LANGUAGE_SCRIPTS.get(base_code(language), {"Latin"})
        share = sum(counts.get(s, 0) for s in scripts) / letters if letters else 0.0
        guesses.append(Guess(language, round(100 * share, 1)))
    return sorted(guesses, key=lambda g: -g.confidence)
