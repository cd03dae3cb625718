"""Chinese script normalisation: traditional → simplified characters.

Corpora mix scripts (about 28 % of the Chinese side of the embedded Tatoeba corpus is
traditional), while a `zh` / `zh-Hans` model should read and write one script: a model trained
on both spends capacity on two spellings of every word, and a simplified hypothesis scored
against a traditional reference loses BLEU for a correct translation.

The converter is OpenCC (the `opencc` package on PyPI, the official Python binding of the
C++ library of BYVoid/OpenCC, maintained upstream, prebuilt wheels): its `t2s` configuration
converts phrase by phrase before character by character, which resolves one-to-many mappings
that a character table gets wrong (乾燥 → 干燥 but 乾隆 stays; 頭髮 → 头发, 後來 → 后来 but
皇后 stays). The pure-Python `opencc-python-reimplemented` uses the same dictionaries but is
unmaintained since 2023 (last release 0.1.7) and pure Python.

`data.zh_script` chooses: "simplified" (default) converts every side whose language is
simplified Chinese (`SIMPLIFIED_LANGS`); "keep" leaves the text alone.
"""

from __future__ import annotations

import functools
from typing import Literal, Protocol

ZhScript = Literal["simplified", "keep"]
# Language codes whose script is simplified Chinese (compared case-insensitively).
SIMPLIFIED_LANGS = frozenset({"zh", "zh-hans", "zh-cn", "zh-sg", "cmn", "cmn-hans", "zho", "chi"})


class _Converter(Protocol):
    def convert(self, text: str) -> str: ...


@functools.cache
def _t2s() -> _Converter:
    import opencc  # imported on first use: only corpora with a Chinese side need it

    converter: _Converter = opencc.OpenCC("t2s")
    return converter


def converts(lang: str, script: ZhScript) -> bool:
    """Whether text in language `lang` is converted to simplified characters."""
    return script == "simplified" and lang.lower() in SIMPLIFIED_LANGS


def to_simplified(text: str) -> str:
    """`text` with traditional characters (and phrases) converted to simplified ones."""
    return _t2s().convert(text)
