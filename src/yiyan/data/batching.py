"""Token-budget batches of similar-length sentences, and their padded tensors.

Cost rule: a batch of n sentences costs `n * max over the batch of max(src_len + 1,
tgt_len + 1)` (lengths in ids, without specials): the padded size of its largest
tensor, since the source carries EOS and the decoder input / output carry BOS / EOS.
A batch never costs more than `batch_tokens`, except a single sentence that alone
exceeds it: it gets a batch of its own. Sentences with more than `max_length` ids on
either side are left out and counted (`num_dropped`).

Each epoch the sentences are sorted by cost with random tie-breaking and cut greedily
into batches, then the batch order is shuffled (both with a generator seeded by
`seed + epoch`). Batch boundaries depend only on the sorted costs, so every epoch has
the same number of batches. With `shuffle=False` the order is the plain sort.

Within one cost the order stays random on purpose. Sorting by target length as a second key
cut the decoder's padding on Tatoeba en→zh from 27 % to 13 %, but then every batch held one
target length, so every update taught one position for EOS, and learning per update collapsed:
after 476 updates of configs/tatoeba-small.yaml (same seed, same data), test BLEU 1.5 with it
and 4.6 without, beam 5 (docs/benchmarks.md §1).

With `world_size > 1` every rank gets the same number of batches: the epoch's shuffled
batch list is cut to a multiple of `world_size` (the last `n % world_size` batches of
the epoch are skipped, different ones each epoch) and rank r takes batches r, r + W, …

Resuming: `state_dict()` holds the epoch and the position (batches handed out so far
in the epoch); iteration continues from there. When an epoch is exhausted the epoch
advances by one. A DataLoader that prefetches reads the sampler ahead of training, so
a trainer that uses one should save the number of batches it consumed as `position`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from yiyan.vocab import DEFAULT_SPECIAL_IDS, SpecialIds


def _cut(sorted_costs: np.ndarray, budget: int) -> np.ndarray:
    """Greedy batch boundaries over ascending costs: batch b is [bounds[b], bounds[b + 1])."""
    bounds, start, n = [0], 0, len(sorted_costs)
    while start < n:
        most = max(1, budget // int(sorted_costs[start]))  # the first (cheapest) cost bounds the size
        window = sorted_costs[start : start + most]
        # costs ascend, so a batch ending at position j costs (j + 1) * window[j]: non-decreasing
        batch_costs = np.arange(1, len(window) + 1) * window
        start += max(1, int(np.searchsorted(batch_costs, budget, side="right")))
        bounds.append(start)
    return np.asarray(bounds, dtype=np.int64)


class TokenBudgetBatchSampler:
    """Yields lists of sentence indices whose padded cost fits `batch_tokens` (see module doc)."""

    def __init__(
        self,
        src_lengths: Sequence[int] | np.ndarray,
        tgt_lengths: Sequence[int] | np.ndarray,
        batch_tokens: int,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        max_length: int | None = None,
    ) -> None:
        src, tgt = np.asarray(src_lengths, dtype=np.int64), np.asarray(tgt_lengths, dtype=np.int64)
        if src.shape != tgt.shape:
            raise ValueError(f"{len(src)} source lengths but {len(tgt)} target lengths")
        if batch_tokens < 1:
            raise ValueError("batch_tokens must be >= 1")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.batch_tokens, self.seed, self.shuffle = batch_tokens, seed, shuffle
        self.rank, self.world_size = rank, world_size
        keep = np.ones(len(src), dtype=bool)
        if max_length is not None:
            keep = (src <= max_length) & (tgt <= max_length)
        self.indices = np.flatnonzero(keep)  # the sentences used
        self.num_dropped = len(src) - len(self.indices)
        self.costs = np.maximum(src, tgt)[self.indices] + 1
        self._bounds = _cut(np.sort(self.costs), batch_tokens)
        self.num_batches = len(self._bounds) - 1  # per epoch, all ranks together
        self.epoch = 0
        self.position = 0

    def __len__(self) -> int:
        """Batches per epoch for this rank."""
        return self.num_batches // self.world_size

    def set_epoch(self, epoch: int) -> None:
        """Start `epoch` from its beginning (no-op when already in it, e.g. after resuming)."""
        if epoch != self.epoch:
            self.epoch, self.position = epoch, 0

    def _plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """The epoch's sentence order and this rank's batch numbers, in order."""
        if self.shuffle:
            rng = np.random.default_rng(self.seed + epoch)
            permutation = rng.permutation(len(self.indices))
            order = permutation[np.argsort(self.costs[permutation], kind="stable")]
            batch_order = rng.permutation(self.num_batches)
        else:
            order = np.argsort(self.costs, kind="stable")
            batch_order = np.arange(self.num_batches)
        usable = len(self) * self.world_size
        return self.indices[order], batch_order[:usable][self.rank :: self.world_size]

    def __iter__(self) -> Iterator[list[int]]:
        order, batches = self._plan(self.epoch)
        while self.position < len(batches):
            batch = int(batches[self.position])
            self.position += 1
            yield order[self._bounds[batch] : self._bounds[batch + 1]].tolist()
        self.epoch, self.position = self.epoch + 1, 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "num_batches": len(self)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state.get("num_batches", len(self)) != len(self):
            raise ValueError(
                f"sampler state is for {state['num_batches']} batches per epoch, this sampler has {len(self)}"
                " (different data, batch_tokens or world size)"
            )
        self.epoch, self.position = int(state["epoch"]), int(state["position"])


# --- collation -------------------------------------------------------------------------


class PairDataset(Protocol):
    def src(self, index: int) -> np.ndarray: ...
    def tgt(self, index: int) -> np.ndarray: ...


@dataclass
class Batch:
    src: torch.Tensor  # [B, S] ids + EOS, padded with PAD
    src_mask: torch.Tensor  # [B, S] bool, True = real token (EOS included)
    tgt_in: torch.Tensor  # [B, T] BOS + ids, padded with PAD
    tgt_out: torch.Tensor  # [B, T] ids + EOS, padded with PAD
    n_tgt_tokens: int  # non-pad target tokens (EOS included)
    n_sentences: int
    indices: list[int]  # dataset indices of the rows

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        def move(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.to(device, non_blocking=non_blocking)

        return Batch(
            move(self.src),
            move(self.src_mask),
            move(self.tgt_in),
            move(self.tgt_out),
            self.n_tgt_tokens,
            self.n_sentences,
            self.indices,
        )


def pad(
    sequences: Sequence[np.ndarray],
    bos: bool = False,
    eos: bool = False,
    special: SpecialIds = DEFAULT_SPECIAL_IDS,
) -> np.ndarray:
    """Stack id sequences into a PAD-padded int64 matrix, optionally with BOS / EOS added
    (the model's special ids: an imported model has its own)."""
    extra = int(bos) + int(eos)
    out = np.full(
        (len(sequences), max((len(s) for s in sequences), default=0) + extra), special.pad, dtype=np.int64
    )
    for row, ids in zip(out, sequences, strict=True):
        start, end = int(bos), int(bos) + len(ids)
        row[start:end] = ids
        if bos:
            row[0] = special.bos
        if eos:
            row[end] = special.eos
    return out


def collate(dataset: PairDataset, indices: Sequence[int], special: SpecialIds = DEFAULT_SPECIAL_IDS) -> Batch:
    """The padded tensors of the pairs `indices` of `dataset` (`special`: the model's ids)."""
    indices = [int(i) for i in indices]
    srcs = [dataset.src(i) for i in indices]
    tgts = [dataset.tgt(i) for i in indices]
    src = torch.from_numpy(pad(srcs, eos=True, special=special))
    tgt_out = torch.from_numpy(pad(tgts, eos=True, special=special))
    return Batch(
        src=src,
        src_mask=src != special.pad,
        tgt_in=torch.from_numpy(pad(tgts, bos=True, special=special)),
        tgt_out=tgt_out,
        n_tgt_tokens=int((tgt_out != special.pad).sum()),
        n_sentences=len(indices),
        indices=indices,
    )
