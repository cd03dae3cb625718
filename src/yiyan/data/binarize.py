"""Token ids in memory-mapped shards, so a corpus larger than RAM can be trained on.

A binarized directory holds, for each split and side (src, tgt):

    {split}.{side}.{k}.ids       shard k: the token ids of its sentences, concatenated, without
                                 BOS/EOS; uint16 when the vocabulary has < 65,536 pieces, else int32
    {split}.{side}.{k}.offsets   int64, one more than the shard's sentences: sentence j is
                                 ids[offsets[j]:offsets[j + 1]]
    meta.json                    vocab sizes, dtypes and, per split, the shard sizes and token
                                 counts; written last, so its presence marks complete data

Writing streams: text is read and encoded in chunks of lines (by `workers` processes when
> 1, results written in input order) and appended to the open shard; memory stays flat.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

import numpy as np

from yiyan.data.corpus import read_lines
from yiyan.data.tokenizer import Side, Tokenizer
from yiyan.errors import DataError, YiyanError
from yiyan.io import atomic_write, read_json, write_json

FORMAT_VERSION = 1
SHARD_SENTENCES = 1_000_000
CHUNK_LINES = 10_000
SIDES: tuple[Side, Side] = ("src", "tgt")

Encoded = tuple[np.ndarray, np.ndarray]  # (flat ids, lengths) of a chunk of sentences
T = TypeVar("T")
R = TypeVar("R")


def id_dtype(vocab_size: int) -> np.dtype[Any]:
    return np.dtype(np.uint16 if vocab_size < 2**16 else np.int32)


# --- encoding (in this process or in worker processes) ---------------------------------

_worker_tokenizer: Tokenizer | None = None


def _init_worker(tokenizer: Tokenizer) -> None:
    global _worker_tokenizer
    _worker_tokenizer = tokenizer


def _encode_chunk(tokenizer: Tokenizer, job: tuple[Side, list[str]]) -> Encoded:
    side, lines = job
    encoded = tokenizer.encode_batch(lines, side)
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    ids = np.fromiter(itertools.chain.from_iterable(encoded), dtype=np.int32, count=int(lengths.sum()))
    return ids, lengths


def _encode_in_worker(job: tuple[Side, list[str]]) -> Encoded:
    assert _worker_tokenizer is not None
    return _encode_chunk(_worker_tokenizer, job)


def _map_ordered(pool: Any, fn: Callable[[T], R], items: Iterable[T], window: int) -> Iterator[R]:
    """Like pool.imap, but with at most `window` items in flight (pool.imap reads ahead without bound)."""
    pending: deque[Any] = deque()
    for item in items:
        pending.append(pool.apply_async(fn, (item,)))
        if len(pending) >= window:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def _chunks(path: Path, size: int) -> Iterator[list[str]]:
    lines = read_lines(path)
    while chunk := list(itertools.islice(lines, size)):
        yield chunk


# --- writing ---------------------------------------------------------------------------


class _ShardWriter:
    """Appends encoded chunks to `{stem}.{k}.ids/.offsets`, starting a new shard every
    `shard_size` sentences. Each file is written atomically (renamed when its shard is full)."""

    def __init__(self, directory: Path, stem: str, dtype: np.dtype[Any], shard_size: int) -> None:
        self.directory, self.stem, self.dtype, self.shard_size = directory, stem, dtype, shard_size
        self.sizes: list[int] = []  # sentences per shard
        self.tokens = 0
        self._files = contextlib.ExitStack()
        self._shard: tuple[IO[Any], IO[Any]] | None = None  # (ids, offsets) of the open shard
        self._end = 0  # tokens in the open shard

    def _next_shard(self) -> tuple[IO[Any], IO[Any]]:
        self._files.close()  # the finished shard's files are renamed into place
        prefix = self.directory / f"{self.stem}.{len(self.sizes)}"
        ids = self._files.enter_context(atomic_write(f"{prefix}.ids", "wb"))
        offsets = self._files.enter_context(atomic_write(f"{prefix}.offsets", "wb"))
        offsets.write(np.zeros(1, dtype=np.int64).tobytes())
        self.sizes.append(0)
        self._end = 0
        return ids, offsets

    def add(self, ids: np.ndarray, lengths: np.ndarray) -> None:
        """Append sentences given as flat ids and their lengths."""
        while len(lengths):
            if self._shard is None or self.sizes[-1] == self.shard_size:
                self._shard = self._next_shard()
            ids_file, offsets_file = self._shard
            take = lengths[: self.shard_size - self.sizes[-1]]
            n_tokens = int(take.sum())
            ids_file.write(np.ascontiguousarray(ids[:n_tokens], dtype=self.dtype).tobytes())
            offsets_file.write((self._end + np.cumsum(take, dtype=np.int64)).tobytes())
            self.sizes[-1] += len(take)
            self._end += n_tokens
            self.tokens += n_tokens
            ids, lengths = ids[n_tokens:], lengths[len(take) :]

    def __enter__(self) -> _ShardWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._files.__exit__(kind, error, trace)  # on error the temporary files are removed


def _remove_shards(directory: Path, split: str) -> None:
    for path in directory.glob(f"{split}.*.*"):
        if path.suffix in (".ids", ".offsets"):
            path.unlink()


def binarize(
    tokenizer: Tokenizer,
    files: Mapping[str, tuple[str | Path, str | Path]],
    out_dir: str | Path,
    *,
    workers: int = 1,
    shard_size: int = SHARD_SENTENCES,
    chunk_size: int = CHUNK_LINES,
) -> dict[str, Any]:
    """Encode text files {split: (src_file, tgt_file)} into shards in `out_dir`; write and
    return the meta (vocab sizes, dtypes, per-split shard sizes and token counts)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "meta.json").unlink(missing_ok=True)  # the data is incomplete until meta is back
    dtypes = {"src": id_dtype(tokenizer.src_vocab_size), "tgt": id_dtype(tokenizer.tgt_vocab_size)}
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "src_vocab_size": tokenizer.src_vocab_size,
        "tgt_vocab_size": tokenizer.tgt_vocab_size,
        "joint": tokenizer.joint,
        "dtype": {side: dtype.name for side, dtype in dtypes.items()},
        "splits": {},
    }
    with contextlib.ExitStack() as stack:
        pool = None
        if workers > 1:
            # fork where there is one: spawn would re-run a user's script that lacks a
            # `if __name__ == "__main__"` guard; the workers only run SentencePiece and numpy
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else None)
            pool = stack.enter_context(context.Pool(workers, _init_worker, (tokenizer,)))

        def encode(jobs: Iterable[tuple[Side, list[str]]]) -> Iterator[Encoded]:
            if pool is None:
                return (_encode_chunk(tokenizer, job) for job in jobs)
            return _map_ordered(pool, _encode_in_worker, jobs, window=2 * workers)

        for split, paths in files.items():
            _remove_shards(out, split)
            entry: dict[str, Any] = {}
            for side, path in zip(SIDES, paths, strict=True):
                jobs = ((side, chunk) for chunk in _chunks(Path(path), chunk_size))
                with _ShardWriter(out, f"{split}.{side}", dtypes[side], shard_size) as writer:
                    for ids, lengths in encode(jobs):
                        writer.add(ids, lengths)
                entry[side] = {
                    "sentences": sum(writer.sizes),
                    "shards": writer.sizes,
                    "tokens": writer.tokens,
                }
            if entry["src"]["sentences"] != entry["tgt"]["sentences"]:
                raise DataError(
                    paths[1],
                    None,
                    f"{entry['tgt']['sentences']} lines, but {paths[0]} has {entry['src']['sentences']}",
                )
            meta["splits"][split] = {
                "sentences": entry["src"]["sentences"],
                "shards": entry["src"]["shards"],
                "src_tokens": entry["src"]["tokens"],
                "tgt_tokens": entry["tgt"]["tokens"],
            }
    write_json(out / "meta.json", meta)
    return meta


# --- reading ---------------------------------------------------------------------------


def _open_array(path: Path, dtype: np.dtype[Any]) -> np.ndarray:
    if path.stat().st_size == 0:  # np.memmap refuses empty files
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r")


class BinarizedDataset:
    """One split of binarized data, memory-mapped: `src(i)`, `tgt(i)` give token ids
    (no BOS/EOS), `src_lengths` / `tgt_lengths` the lengths of all sentences."""

    def __init__(self, directory: str | Path, split: str) -> None:
        self._open(Path(directory), split)

    def _open(self, directory: Path, split: str) -> None:
        self.directory, self.split = directory, split
        meta_path = self.directory / "meta.json"
        if not meta_path.is_file():
            raise YiyanError(f"no binarized data in {self.directory} (missing meta.json): run prepare first")
        self.meta: dict[str, Any] = read_json(meta_path)
        if split not in self.meta["splits"]:
            raise YiyanError(f"{self.directory}: no split {split!r} (have {sorted(self.meta['splits'])})")
        shards = self.meta["splits"][split]["shards"]
        self._starts = np.cumsum([0, *shards])  # index of each shard's first sentence
        self._ids: dict[str, list[np.ndarray]] = {}
        self._offsets: dict[str, list[np.ndarray]] = {}
        for side in SIDES:
            dtype = np.dtype(self.meta["dtype"][side])
            prefixes = [self.directory / f"{split}.{side}.{k}" for k in range(len(shards))]
            self._ids[side] = [_open_array(p.with_name(p.name + ".ids"), dtype) for p in prefixes]
            self._offsets[side] = [
                _open_array(p.with_name(p.name + ".offsets"), np.dtype(np.int64)) for p in prefixes
            ]

    # pickle (DataLoader workers) as a path: reopen the maps instead of copying them
    def __getstate__(self) -> tuple[Path, str]:
        return self.directory, self.split

    def __setstate__(self, state: tuple[Path, str]) -> None:
        self._open(*state)

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _lengths(self, side: str) -> np.ndarray:
        parts = [np.diff(offsets) for offsets in self._offsets[side]]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    @functools.cached_property
    def src_lengths(self) -> np.ndarray:
        return self._lengths("src")

    @functools.cached_property
    def tgt_lengths(self) -> np.ndarray:
        return self._lengths("tgt")

    def _get(self, side: str, index: int) -> np.ndarray:
        if not 0 <= index < len(self):
            raise IndexError(f"sentence {index} out of range for {len(self)} sentences")
        shard = int(np.searchsorted(self._starts, index, side="right")) - 1
        j = index - int(self._starts[shard])
        offsets = self._offsets[side][shard]
        return np.array(self._ids[side][shard][offsets[j] : offsets[j + 1]], dtype=np.int64)

    def src(self, index: int) -> np.ndarray:
        return self._get("src", index)

    def tgt(self, index: int) -> np.ndarray:
        return self._get("tgt", index)
