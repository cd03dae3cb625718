"""Back-translation data: monolingual target-language text → tagged synthetic training pairs.

A reverse model (target → source language) translates real target-language sentences; each
(synthetic source, real target) pair is a training pair whose source starts with `TAG`, so the
forward model can tell machine-made sources from real ones (tagged back-translation, Caswell et
al. 2019) and real inputs, which never carry the tag, are translated as real text. With
`tokenizer.user_symbols: ["<BT>"]` the tag is one SentencePiece piece.
The recipe that trains, translates and compares: benchmarks/backtranslation.py.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from yiyan.data.corpus import read_lines
from yiyan.errors import DataError

TAG = "<BT>"


def sentence_key(text: str) -> str:
    """The text's letters and digits (NFKC; punctuation, symbols and spaces dropped): two
    sentences with the same key count as the same sentence."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text)).casefold()


@dataclass
class MonolingualSample:
    sentences: list[str]
    counts: dict[str, int] = field(default_factory=dict)  # read, dropped by reason, eligible, used


def monolingual_sample(
    path: str | Path,
    *,
    column: int,
    exclude: Iterable[str],
    size: int,
    min_chars: int = 4,
    max_chars: int = 24,
    seed: int = 1,
) -> MonolingualSample:
    """A seeded random sample of `size` sentences from column `column` (0-based) of a TSV file
    (a plain text file: column 0): `min_chars`–`max_chars` characters long, none with the key of
    an `exclude` sentence (e.g. the test and dev references), each key once."""
    banned = {sentence_key(text) for text in exclude}
    seen: set[str] = set()
    eligible: list[str] = []
    counts = {"read": 0, "length": 0, "excluded": 0, "duplicate": 0}
    for number, line in enumerate(read_lines(path), start=1):
        counts["read"] += 1
        columns = line.split("\t")
        if column >= len(columns):
            raise DataError(path, number, f"no column {column + 1} (found {len(columns)})")
        text = columns[column].strip()
        key = sentence_key(text)
        if not min_chars <= len(text) <= max_chars:
            counts["length"] += 1
        elif key in banned:
            counts["excluded"] += 1
        elif key in seen:
            counts["duplicate"] += 1
        else:
            seen.add(key)
            eligible.append(text)
    counts["eligible"] = len(eligible)
    sentences = random.Random(seed).sample(eligible, min(size, len(eligible)))
    counts["used"] = len(sentences)
    return MonolingualSample(sentences, counts)


def tagged_pairs(
    synthetic_sources: Iterable[str], targets: Iterable[str], tag: str = TAG
) -> list[tuple[str, str]]:
    """(f"{tag} {source}", target) for every pair whose synthetic source is not empty."""
    return [
        (f"{tag} {source.strip()}", target)
        for source, target in zip(synthetic_sources, targets, strict=True)
        if source.strip()
    ]
