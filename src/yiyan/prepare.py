"""Prepare a run's data: read and clean the corpora, split, tokenize, binarize.

Writes into the run directory:

    data/{train,dev,test}.{src_lang}    cleaned, normalized text, one sentence per line
    data/{train,dev,test}.{tgt_lang}
    data/{dev,test}.ref.{tgt_lang}      the references as read (only BOM and line ends removed;
                                        a line break inside a text becomes a space)
    data/bin/                           binarized shards + meta.json (see data/binarize.py)
    tokenizer/                          joint.model, or src.model + tgt.model
    prepare_report.json                 pairs read / kept / dropped by reason, split sizes,
                                        vocabulary fit per split and side, seconds; written last

Splitting: a split without its own corpus (`dev`, `test`) is held out of the training
corpus (`corpus`, or `train`). The held-out pairs are a uniform random sample of the kept
pairs, drawn in one streaming pass by reservoir sampling (Algorithm R, `random.Random`
seeded with `split_seed`), then shuffled and cut into dev and test, each kept in corpus
order. Every other pair is written to train as it streams by (a pair that enters the
sample and is later replaced is written when replaced), so memory holds only the sample
and the 8-byte hashes used for deduplication. Deduplication runs over the whole training
corpus before the split, so no held-out pair also appears in train. Explicit dev/test
corpora are only normalized, never filtered, so that the test set scored is the whole test
set: a pair with an empty side is a DataError naming file and line, and pairs that also
occur in train are kept and counted (`overlap_with_train`).

Mixing: `corpus` / `train` may list several corpora; each training pair of a corpus with
weight w is written floor(w) times, plus once more with probability w − floor(w) (seeded).
Held-out pairs are drawn from all corpora alike, each once.

Decontamination (`data.decontaminate`, on by default; data/decontaminate.py): train is first
written to a temporary file; once dev and test are known it is filtered into data/train.*,
dropping every pair whose source or target occurs in dev, test or the `data.exclude`
corpora; the drops are counted by reason in the report's `decontamination`.

Score filtering (`data.score_filter_run` + `data.score_filter_drop_worst`, data/score_filter.py):
once train is written, a trained model force-scores its pairs and the worst share is dropped,
counted as `low_score` — before the tokenizer is trained, so it never learns from them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import random
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

from yiyan.config import Config, CorpusSpec, DataConfig
from yiyan.data.binarize import SIDES, binarize
from yiyan.data.corpus import (
    Cleaner,
    CleanPair,
    Pair,
    corpus_name,
    corpus_sources,
    pair_hash,
    read_corpus,
    read_lines,
)
from yiyan.data.decontaminate import REASONS, Contamination
from yiyan.data.score_filter import count_drops, filter_training_pairs
from yiyan.data.tokenizer import Tokenizer
from yiyan.errors import YiyanError
from yiyan.io import atomic_write, write_json

SPLITS = ("train", "dev", "test")
STATS_SENTENCES = 100_000  # vocabulary statistics use at most this many sentences per split
REPORT = "prepare_report.json"
T = TypeVar("T")


def split_files(run_path: str | Path, src_lang: str, tgt_lang: str) -> dict[str, tuple[Path, Path]]:
    """{split: (source text file, target text file)} of a prepared run."""
    data = Path(run_path) / "data"
    return {split: (data / f"{split}.{src_lang}", data / f"{split}.{tgt_lang}") for split in SPLITS}


def reference_file(run_path: str | Path, split: str, tgt_lang: str) -> Path:
    """The untouched target references of `split` (dev or test)."""
    return Path(run_path) / "data" / f"{split}.ref.{tgt_lang}"


def is_prepared(run_path: str | Path) -> bool:
    """Whether prepare finished for this run (its report is written last)."""
    run = Path(run_path)
    return (run / REPORT).is_file() and (run / "data" / "bin" / "meta.json").is_file()


# --- splitting -------------------------------------------------------------------------


def reservoir_sample(items: Iterable[T], k: int, rng: random.Random, rest: Callable[[T], None]) -> list[T]:
    """A uniform random sample of k items in one pass (Algorithm R); every item not in
    the sample is passed to `rest` (a replaced sample item when it is replaced)."""
    sample: list[T] = []
    for i, item in enumerate(items):
        if i < k:
            sample.append(item)
            continue
        j = rng.randrange(i + 1)
        if j < k:
            rest(sample[j])
            sample[j] = item
        else:
            rest(item)
    return sample


def _one_line(text: str) -> str:
    """Line breaks (\\n, \\r, \\u2028, … anything str.splitlines splits on) become spaces."""
    return " ".join(text.splitlines())


class _SplitWriter:
    """The text files of all splits, open for writing (atomically, renamed on success)."""

    def __init__(self, run_path: Path, src_lang: str, tgt_lang: str) -> None:
        self.counts = dict.fromkeys(SPLITS, 0)
        self._stack = contextlib.ExitStack()
        self._files: dict[str, list[IO[Any]]] = {}
        for split, (src_path, tgt_path) in split_files(run_path, src_lang, tgt_lang).items():
            paths = (
                [src_path, tgt_path]
                if split == "train"
                else [src_path, tgt_path, reference_file(run_path, split, tgt_lang)]
            )
            self._files[split] = [self._stack.enter_context(atomic_write(path)) for path in paths]

    def write(self, split: str, pair: CleanPair) -> None:
        files = self._files[split]
        files[0].write(pair.src + "\n")
        files[1].write(pair.tgt + "\n")
        if len(files) == 3:
            files[2].write(_one_line(pair.raw.tgt) + "\n")
        self.counts[split] += 1

    def __enter__(self) -> _SplitWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stack.__exit__(kind, error, trace)


class _TrainStaging:
    """Training pairs before decontamination: `copies<TAB>src<TAB>tgt` lines in a temporary
    file (cleaned text has no tabs), read back once dev and test are known."""

    def __init__(self, directory: Path, seed: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.file = tempfile.TemporaryFile(  # noqa: SIM115 - closed by __exit__
            "w+", encoding="utf-8", dir=directory, prefix=".train-staging."
        )
        self.rng = random.Random(seed)

    def write(self, pair: CleanPair, weight: float) -> None:
        whole = math.floor(weight)
        copies = whole + (self.rng.random() < weight - whole)  # E[copies] = weight
        if copies:
            self.file.write(f"{copies}\t{pair.src}\t{pair.tgt}\n")

    def pairs(self) -> Iterator[tuple[int, CleanPair]]:
        self.file.seek(0)
        for line in self.file:
            copies, src, tgt = line.rstrip("\n").split("\t")
            yield int(copies), CleanPair(src, tgt, Pair(src, tgt, "train", 0))

    def __enter__(self) -> _TrainStaging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def _read_training_corpora(
    main: CorpusSpec, data: DataConfig, cleaner: Cleaner
) -> Iterator[tuple[int, CleanPair, float]]:
    """(index, cleaned pair, weight) of every kept pair of every corpus of `main`, in order."""
    index = itertools.count()
    for source in corpus_sources(main):
        for pair in cleaner(read_corpus(source.spec, data)):
            yield next(index), pair, source.weight


def write_splits(data: DataConfig, run_path: Path) -> dict[str, Any]:
    """Read, clean and split the corpora into the run's text files; return the cleaning report."""
    main = data.corpus if data.corpus is not None else data.train
    assert main is not None  # Config.validate
    explicit = {"dev": data.dev, "test": data.test}
    held_sizes = {
        "dev": data.dev_size if data.dev is None else 0,
        "test": data.test_size if data.test is None else 0,
    }
    # sentences converted from traditional to simplified Chinese, per corpus and side
    report: dict[str, Any] = {"cleaning": {}, "overlap_with_train": {}, "simplified": {}}
    contamination = Contamination()
    with (
        _SplitWriter(run_path, data.src_lang, data.tgt_lang) as writer,
        _TrainStaging(run_path / "data", data.split_seed) as staging,
    ):
        cleaner = Cleaner(data)
        rng = random.Random(data.split_seed)
        sample = reservoir_sample(
            _read_training_corpora(main, data, cleaner),
            sum(held_sizes.values()),
            rng,
            lambda item: staging.write(item[1], item[2]),
        )
        rng.shuffle(sample)
        held = {"dev": sample[: held_sizes["dev"]], "test": sample[held_sizes["dev"] :]}
        for split, items in held.items():
            for _, pair, _ in sorted(items, key=lambda item: item[0]):
                writer.write(split, pair)
            contamination.add(split, (pair for _, pair, _ in items))
        main_name = "corpus" if data.corpus is not None else "train"
        report["cleaning"][main_name] = {"source": corpus_name(main), **cleaner.report()}
        report["simplified"][main_name] = cleaner.simplified
        for split, spec in explicit.items():
            if spec is None:
                continue
            split_cleaner = Cleaner(data, deduplicate=False, evaluation=True)  # normalized, never filtered
            overlap = 0
            for pair in split_cleaner(read_corpus(spec, data)):
                overlap += pair_hash(pair.src, pair.tgt) in cleaner.seen
                writer.write(split, pair)
                contamination.add(split, [pair])
            report["cleaning"][split] = {"source": corpus_name(spec), **split_cleaner.report()}
            report["simplified"][split] = split_cleaner.simplified
            if cleaner.deduplicate:
                report["overlap_with_train"][split] = overlap
        if data.exclude is not None:
            contamination.add("exclude", Cleaner(data, deduplicate=False)(read_corpus(data.exclude, data)))
        report["decontamination"] = _write_train(
            staging, writer, contamination if data.decontaminate else None
        )
        if data.exclude is not None:
            report["decontamination"]["exclude"] = corpus_name(data.exclude)
        report["sentences"] = writer.counts
        _check_not_empty(report, explicit, sum(held_sizes.values()))
    return report


def _write_train(
    staging: _TrainStaging, writer: _SplitWriter, contamination: Contamination | None
) -> dict[str, Any]:
    """Copy the staged training pairs into train, without the contaminated ones (when given)."""
    dropped = dict.fromkeys(REASONS, 0)
    for copies, pair in staging.pairs():
        reason = contamination.reason(pair.src, pair.tgt) if contamination is not None else None
        if reason is not None:
            dropped[reason] += 1
            continue
        for _ in range(copies):
            writer.write("train", pair)
    return {"enabled": contamination is not None, "dropped": dropped}


def _check_not_empty(report: dict[str, Any], explicit: dict[str, CorpusSpec | None], held: int) -> None:
    for split, count in report["sentences"].items():
        if count:
            continue
        if split == "train":
            kept = next(iter(report["cleaning"].values()))["kept"]
            decontaminated = sum(report["decontamination"]["dropped"].values())
            hint = (
                f"{kept} pairs kept, {held} of them held out for dev/test, {decontaminated} dropped as "
                "contaminated; lower data.dev_size / data.test_size"
            )
        elif (spec := explicit[split]) is not None:
            hint = f"every pair of {corpus_name(spec)} was dropped"
        else:
            hint = f"data.{split}_size is 0 and no data.{split} corpus is given"
        raise YiyanError(f"the {split} split is empty after cleaning: {hint}")


# --- the whole preparation -------------------------------------------------------------


def vocabulary_statistics(tokenizer: Tokenizer, files: dict[str, tuple[Path, Path]]) -> dict[str, Any]:
    """Unk rate, character coverage and tokens per sentence, per split and side
    (on at most STATS_SENTENCES sentences of each split)."""
    statistics: dict[str, Any] = {}
    for split, paths in files.items():
        statistics[split] = {}
        for side, path in zip(SIDES, paths, strict=True):
            lines = itertools.islice(read_lines(path), STATS_SENTENCES)
            statistics[split][side] = tokenizer.statistics(lines, side)
    return statistics


def prepare(
    config: Config,
    *,
    workers: int = 1,
    tokenizer_dir: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Prepare `config.run_path` for training (see module doc); return the report.
    `tokenizer_dir`: reuse that tokenizer (e.g. a pretrained model's) instead of training one;
    it defaults to the pretrained run's tokenizer when `finetune.init_from` is set."""
    start = time.perf_counter()
    data, run = config.data, config.run_path
    if tokenizer_dir is None and config.finetune.init_from:
        tokenizer_dir = Path(config.finetune.init_from) / "tokenizer"
    reused = Tokenizer.load(tokenizer_dir) if tokenizer_dir is not None else None  # fails before reading
    if data.src_lang == data.tgt_lang:
        raise YiyanError(f"data.src_lang and data.tgt_lang are both {data.src_lang!r}")
    (run / REPORT).unlink(missing_ok=True)  # the run is not prepared until the report is back
    report: dict[str, Any] = {"src_lang": data.src_lang, "tgt_lang": data.tgt_lang}
    report.update(write_splits(data, run))
    files = split_files(run, data.src_lang, data.tgt_lang)
    if data.score_filter_drop_worst > 0:  # before the tokenizer learns from the pairs it drops
        count_drops(report, filter_training_pairs(data, *files["train"], log=log))

    if reused is not None:
        tokenizer = reused
        tokenizer.save(run / "tokenizer")
    else:
        tokenizer = Tokenizer.train(*files["train"], config.tokenizer, run / "tokenizer")
    report["tokenizer"] = {
        "reused_from": None if tokenizer_dir is None else str(tokenizer_dir),
        "config": dataclasses.asdict(config.tokenizer) if tokenizer_dir is None else None,
        "joint": tokenizer.joint,
        "src_vocab_size": tokenizer.src_vocab_size,
        "tgt_vocab_size": tokenizer.tgt_vocab_size,
    }
    report["statistics"] = vocabulary_statistics(tokenizer, files)
    meta = binarize(tokenizer, files, run / "data" / "bin", workers=workers)
    report["tokens"] = {
        split: {"src": entry["src_tokens"], "tgt": entry["tgt_tokens"]}
        for split, entry in meta["splits"].items()
    }
    report["data_config"] = dataclasses.asdict(data)
    report["seconds"] = round(time.perf_counter() - start, 2)
    write_json(run / REPORT, report)
    warn_below = config.finetune.min_char_coverage if tokenizer_dir is not None else 0.0
    for line in summary(report, min_char_coverage=warn_below):
        log(line)
    return report


def summary(report: dict[str, Any], min_char_coverage: float = 0.0) -> list[str]:
    """A few human-readable lines about a prepare report."""
    lines = [f"prepared {report['src_lang']}→{report['tgt_lang']} in {report['seconds']} s"]
    for name, entry in report["cleaning"].items():
        dropped = ", ".join(f"{reason} {count}" for reason, count in entry["dropped"].items())
        simplified = ", ".join(f"{side} {count}" for side, count in report["simplified"][name].items())
        fixed = entry.get("zh_punctuation_fixed")  # data.zh_punctuation
        lines.append(
            f"  {name} ({entry['source']}): read {entry['read']}, kept {entry['kept']} (dropped: {dropped})"
            + (f"; converted to simplified Chinese: {simplified}" if simplified else "")
            + (f"; ASCII punctuation made full-width: {fixed}" if fixed else "")
        )
    decontamination = report.get("decontamination")
    if decontamination and decontamination["enabled"]:
        found = ", ".join(f"in {reason} {count}" for reason, count in decontamination["dropped"].items())
        lines.append(f"  decontamination: training pairs dropped whose source or target occurs {found}")
    sizes = report["sentences"]
    lines.append("  split: " + ", ".join(f"{split} {count}" for split, count in sizes.items()))
    for split, count in report["overlap_with_train"].items():
        if count:
            lines.append(f"  note: {count} {split} pairs also occur in train (kept)")
    tok = report["tokenizer"]
    origin = (
        f"reused from {tok['reused_from']}" if tok["reused_from"] else f"{tok['config']['type']}, trained"
    )
    vocab = (
        f"joint vocab {tok['src_vocab_size']}"
        if tok["joint"]
        else (f"vocab src {tok['src_vocab_size']} / tgt {tok['tgt_vocab_size']}")
    )
    lines.append(f"  tokenizer: {vocab} ({origin})")
    for split, sides in report["statistics"].items():
        for side, stats in sides.items():
            lines.append(
                f"  {split} {side}: {stats['tokens_per_sentence']:.1f} tokens/sentence, "
                f"unk {stats['unk_rate']:.2%}, char coverage {stats['char_coverage']:.2%}"
            )
            if stats["char_coverage"] < min_char_coverage:
                lines.append(
                    f"  warning: the vocabulary covers only {stats['char_coverage']:.2%} of {split} {side} "
                    f"characters (< {min_char_coverage:.2%}); uncovered: {stats['unknown_chars']}"
                )
    return lines
