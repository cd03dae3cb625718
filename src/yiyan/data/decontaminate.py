"""Decontamination: no training sentence may also be an evaluation sentence.

Deduplication removes a training pair identical to a held-out pair, but corpora overlap in
subtler ways: Tatoeba gives one Chinese sentence several English translations (one may land in
test, the others in train), two snapshots of a corpus share sentences, HSK example sentences
also occur in Tatoeba. A model that has seen the test source, or learnt to produce the test
reference, scores BLEU it has not earned. So `prepare` drops every training pair whose source
occurs among the sources, or whose target occurs among the targets, of the dev set, the test
set, or the `data.exclude` corpora, and counts the drops by where the sentence was found.

Sentences are compared by a key that is coarser than the cleaned text: case-folded, with
punctuation, symbols and spaces removed ("I love you." = "i love you!"), so trivial variants
of an evaluation sentence are caught too. A sentence whose key is empty (only punctuation)
matches nothing. Keys are stored as 64-bit hashes (`HashSet`), a few bytes per sentence.
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from collections.abc import Iterable

from yiyan.data.corpus import CleanPair, HashSet, pair_hash

REASONS = ("dev", "test", "exclude")  # where a dropped training sentence was found


@functools.cache
def _stripped_characters() -> dict[int, None]:
    """str.translate table removing punctuation (P*), symbols (S*), separators (Z*) and controls (C*)."""
    return {code: None for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code))[0] in "PSZC"}


def sentence_key(text: str) -> str:
    """The comparison key of a cleaned sentence (see module doc)."""
    return text.casefold().translate(_stripped_characters())


class Contamination:
    """The source and target sentences of the evaluation sets and excluded corpora."""

    def __init__(self) -> None:
        self.sets = {reason: HashSet() for reason in REASONS}

    def add(self, reason: str, pairs: Iterable[CleanPair]) -> None:
        """Record the sentences of `pairs` (both sides) as found in `reason` (dev, test, exclude)."""
        found = self.sets[reason]
        for pair in pairs:
            for side, text in (("src", pair.src), ("tgt", pair.tgt)):
                key = sentence_key(text)
                if key:
                    found.add(pair_hash(side, key))

    def reason(self, src: str, tgt: str) -> str | None:
        """Where the training pair's source or target also occurs, or None when it is clean."""
        keys = [
            pair_hash(side, key) for side, text in (("src", src), ("tgt", tgt)) if (key := sentence_key(text))
        ]
        for reason, found in self.sets.items():
            if any(key in found for key in keys):
                return reason
        return None
