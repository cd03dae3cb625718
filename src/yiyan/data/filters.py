"""Noisy-data filters for web-collected training pairs, beyond length and ratio.

`PairFilter(config)` is called by `Cleaner.drop_reason` (data/corpus.py) on every normalized
training pair after the length checks and before deduplication; it returns the reason a pair is
dropped, which the cleaner counts (prepare_report.json, `cleaning.<corpus>.dropped`). Only the
filters a config switches on run, and only their reasons appear in the report. Dev and test
sets are never filtered. The checks, cheapest first:

- copy (`data.drop_copies`): the target is the source (case and spaces ignored) — untranslated
  text copied through, which teaches a model to copy.
- url (`data.drop_urls`): either side holds a URL or an e-mail address (boilerplate, link lists).
- digits (`data.max_digit_ratio` < 1): digits are more than that share of a side's non-space
  characters (tables, phone numbers, references).
- repeated_chars (`data.max_repeat` > 0): a side repeats one character more than `max_repeat`
  times in a row ("!!!!!!!!", "哈哈哈哈哈哈哈", keyboard noise).
- wrong_script (`data.min_script_ratio` > 0): among a side's letters (Unicode letters; digits,
  punctuation and spaces do not count), the share written in the script of the side's language
  (Latin for en, Han for zh, `LANGUAGE_SCRIPT`) is below the threshold: a Chinese sentence on the
  English side, pinyin or English on the Chinese side, swapped columns. A side with no letters, or
  a language without a known script, is not judged by this check.
- wrong_language (`data.langid`): langid.py (Lui & Baldwin 2012; its model ships inside the PyPI
  package, nothing is downloaded) classifies a side with at least LANGID_MIN_LETTERS letters as a
  language other than the side's, among LANGID_CANDIDATES. Off by default: about 2,000
  sentences/s on one core, so ≈ 8 minutes for the 2 × 500k sides of a half-million-pair corpus;
  the script check catches most of what it does for English–Chinese at a hundredth of the cost.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from yiyan.config import DataConfig
from yiyan.errors import ConfigError

FILTER_REASONS = ("copy", "url", "digits", "repeated_chars", "wrong_script", "wrong_language")

# Letters of a script (the ranges of the Unicode blocks; extensions included)
SCRIPT_PATTERNS = {
    "latin": re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]"),
    "han": re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f\u3007]"),
    "cyrillic": re.compile(r"[\u0400-\u04ff]"),
    "arabic": re.compile(r"[\u0600-\u06ff]"),
    "hangul": re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]"),
}
LANGUAGE_SCRIPT = {
    **dict.fromkeys(
        ("en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "pl", "cs", "tr", "id", "vi"),
        "latin",
    ),
    "zh": "han",
    "ru": "cyrillic",
    "uk": "cyrillic",
    "ar": "arabic",
    "ko": "hangul",
}
LETTER = re.compile(r"[^\W\d_]")  # a Unicode letter: a word character that is no digit or underscore
DIGIT = re.compile(r"\d")
URL = re.compile(r"https?://|\bwww\.\w|[\w.+-]+@[\w-]+\.[\w.]+", re.IGNORECASE)
LANGID_MIN_LETTERS = 20  # langid.py guesses wildly on shorter text
# langid.py chooses among these (and the pair's languages): confusable neighbours of English and
# Chinese, few enough to keep it fast (it scores every candidate for every sentence)
LANGID_CANDIDATES = ("en", "zh", "ja", "ko", "fr", "de", "es", "it", "pt", "nl", "ru", "ar", "vi", "id")

Check = Callable[[str, str], bool]  # (source, target) → drop?


def script_share(text: str, script: str) -> float | None:
    """The share of `text`'s letters written in `script`; None when it has no letters."""
    letters = len(LETTER.findall(text))
    return len(SCRIPT_PATTERNS[script].findall(text)) / letters if letters else None


def digit_share(text: str) -> float:
    """The share of `text`'s non-space characters that are digits (0 for an empty text)."""
    visible = len(text) - text.count(" ")
    return len(DIGIT.findall(text)) / visible if visible else 0.0


@functools.cache
def _langid_classifier(languages: tuple[str, ...]) -> Any:
    """langid.py's classifier over `languages` (loading the model takes about a second)."""
    try:
        from langid.langid import LanguageIdentifier, model
    except ImportError:  # pragma: no cover - a dependency in pyproject.toml
        raise ConfigError("data.langid needs the langid package: pip install langid") from None
    identifier = LanguageIdentifier.from_modelstring(model, norm_probs=False)
    identifier.set_languages(list(languages))
    return identifier


class PairFilter:
    """The noisy-data checks a `DataConfig` switches on; `reason(src, tgt)` names the first that
    fails (see the module doc), `reasons` lists the ones that can."""

    def __init__(self, config: DataConfig) -> None:
        self.checks: list[tuple[str, Check]] = []
        if config.drop_copies:
            self.checks.append(("copy", _is_copy))
        if config.drop_urls:
            self.checks.append(("url", lambda src, tgt: bool(URL.search(src) or URL.search(tgt))))
        if config.max_digit_ratio < 1:
            limit = config.max_digit_ratio
            self.checks.append(("digits", lambda src, tgt: max(digit_share(src), digit_share(tgt)) > limit))
        if config.max_repeat > 0:
            run = re.compile(rf"(.)\1{{{config.max_repeat},}}")  # the character + max_repeat more
            self.checks.append(("repeated_chars", lambda src, tgt: bool(run.search(src) or run.search(tgt))))
        if config.min_script_ratio > 0:
            self.checks.append(("wrong_script", self._script_check(config)))
        if config.langid:
            self.checks.append(("wrong_language", self._language_check(config)))
        self.reasons = tuple(reason for reason, _ in self.checks)

    @staticmethod
    def _script_check(config: DataConfig) -> Check:
        minimum = config.min_script_ratio
        scripts = LANGUAGE_SCRIPT.get(config.src_lang), LANGUAGE_SCRIPT.get(config.tgt_lang)

        def wrong(text: str, script: str | None) -> bool:
            share = script_share(text, script) if script is not None else None
            return share is not None and share < minimum

        return lambda src, tgt: wrong(src, scripts[0]) or wrong(tgt, scripts[1])

    @staticmethod
    def _language_check(config: DataConfig) -> Check:
        languages = tuple(sorted({*LANGID_CANDIDATES, config.src_lang, config.tgt_lang}))
        classifier = _langid_classifier(languages)

        def wrong(text: str, language: str) -> bool:
            if len(LETTER.findall(text)) < LANGID_MIN_LETTERS:
                return False
            return bool(classifier.classify(text)[0] != language)

        return lambda src, tgt: wrong(src, config.src_lang) or wrong(tgt, config.tgt_lang)

    def __bool__(self) -> bool:
        return bool(self.checks)

    def reason(self, src: str, tgt: str) -> str | None:
        """The reason the normalized pair (src, tgt) is dropped, or None when every check passes."""
        for reason, check in self.checks:
            if check(src, tgt):
                return reason
        return None


def _is_copy(src: str, tgt: str) -> bool:
    return "".join(src.split()).casefold() == "".join(tgt.split()).casefold()
