"""Terminology: a glossary of (source term, target term) pairs applied at translation time.

    yiyan translate RUN --glossary terms.tsv      # source term<TAB>target term, one pair a line
    translator.translate(texts, glossary=[("router", "路由器")])

For every input sentence, the entries whose source term occurs in it — case-insensitively, and
as a whole word where the term begins or ends with a letter or digit ("router" matches
"Router," but not "routers") — give the target terms that the output must contain; constrained
beam search (`yiyan.constraints`) then forces them in. Sentences without a matching term are
translated as without the glossary.

A target term is tokenized as it appears inside a sentence: a term that starts with a CJK
character gets no SentencePiece word-start marker (▁), so 路由器 is forced as the pieces the model
writes mid-sentence, not as a new word. `term_accuracy` measures how many expected target terms
the translations contain.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from yiyan.data.corpus import read_lines
from yiyan.data.tokenizer import Tokenizer
from yiyan.errors import ConfigError, DataError

WORD_START = "▁"  # SentencePiece's word-start marker


@dataclass(frozen=True)
class GlossaryEntry:
    source: str
    target: str
    pattern: re.Pattern[str]

    def matches(self, text: str) -> bool:
        return self.pattern.search(text) is not None


Glossary = list[GlossaryEntry]


def _entry(source: str, target: str) -> GlossaryEntry:
    source, target = (
        unicodedata.normalize("NFKC", source).strip(),
        unicodedata.normalize("NFC", target).strip(),
    )
    left = r"(?<!\w)" if source[:1].isalnum() else ""  # whole words where the term has word ends
    right = r"(?!\w)" if source[-1:].isalnum() else ""
    return GlossaryEntry(source, target, re.compile(left + re.escape(source) + right, re.IGNORECASE))


def glossary_from_pairs(pairs: Iterable[Sequence[str]]) -> Glossary:
    """A glossary from (source term, target term) pairs (the REST API's `glossary` field)."""
    entries = []
    for number, pair in enumerate(pairs, 1):
        if len(pair) != 2 or not all(isinstance(term, str) and term.strip() for term in pair):
            raise ConfigError(
                f"glossary entry {number}: expected two non-empty terms [source, target], got {pair!r}"
            )
        entries.append(_entry(pair[0], pair[1]))
    return entries


def load_glossary(path: str | Path) -> Glossary:
    """Read a glossary TSV (source term<TAB>target term); an empty or malformed line is a
    DataError naming the file and line."""
    entries = []
    for number, line in enumerate(read_lines(path), 1):
        columns = line.split("\t")
        if not line.strip():
            raise DataError(path, number, "empty line: expected source term<TAB>target term")
        if len(columns) != 2:
            found = "no tab" if len(columns) == 1 else f"{len(columns)} columns"
            raise DataError(path, number, f"{found}: expected source term<TAB>target term")
        if not columns[0].strip() or not columns[1].strip():
            side = "source" if not columns[0].strip() else "target"
            raise DataError(path, number, f"empty {side} term")
        entries.append(_entry(*columns))
    if not entries:
        raise DataError(path, None, "the glossary is empty")
    return entries


def target_terms(glossary: Glossary, source: str) -> list[str]:
    """The target terms `source` calls for (each once, in glossary order)."""
    terms: list[str] = []
    for entry in glossary:
        if entry.target not in terms and entry.matches(source):
            terms.append(entry.target)
    return terms


def term_ids(tokenizer: Tokenizer, term: str) -> list[int]:
    """The target pieces of `term` as they appear inside a sentence (module docstring)."""
    ids = tokenizer.encode_batch([term], "tgt")[0]
    if term[:1].isascii() or not ids:
        return ids  # a Latin word starts with ▁ inside a sentence too
    first = tokenizer.tgt_pieces(ids[:1])[0]
    if first == WORD_START:  # a lone ▁ piece: drop it
        return ids[1:]
    vocab = tokenizer.vocab("tgt")
    inner = first.removeprefix(WORD_START)
    if first.startswith(WORD_START) and inner in vocab:
        return [vocab.index(inner), *ids[1:]]
    return ids  # this vocabulary can only write the term's first character as ▁x


def constraints_for(
    glossary: Glossary, sources: Sequence[str], tokenizer: Tokenizer
) -> list[list[list[int]]]:
    """Per source sentence, the token sequences its translation must contain."""
    cache: dict[str, list[int]] = {}
    constraints = []
    for source in sources:
        terms = target_terms(glossary, source)
        constraints.append([cache.setdefault(t, term_ids(tokenizer, t)) for t in terms])
    return constraints


def term_accuracy(
    glossary: Glossary, sources: Sequence[str], outputs: Sequence[str]
) -> dict[str, float | int]:
    """How many of the target terms the sources call for appear in the outputs."""
    expected = found = 0
    for source, output in zip(sources, outputs, strict=True):
        for term in target_terms(glossary, unicodedata.normalize("NFKC", source)):
            expected += 1
            found += term in output
    return {"terms": expected, "found": found, "accuracy": found / expected if expected else 1.0}
