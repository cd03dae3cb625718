"""General-domain pairs mixed into fine-tuning batches, to limit forgetting.

`ConcatPairs` shows several datasets as one: index i of the view is index i - offsets[k]
of dataset k (offsets[k] = the sentences of the datasets before it). `collate` takes it
like any dataset.

`MixedBatchSampler` yields index batches over a `ConcatPairs(main, extra)` in which a
share `ratio` of the sentences comes from `extra` (the general domain). An epoch is one
pass over the main (in-domain) pairs; it also takes the next
`n_extra = round(n_main · ratio / (1 - ratio))` extra pairs from an endless stream of
random permutations of the extra data, so every extra pair is used once before any
repeats. Each side is sorted by cost (random tie-breaking) and the two are interleaved by
rank — main pair j at key (j + ½) / n_main, extra pair k at key (k + ½) / n_extra — so any
run of consecutive sentences holds a share ≈ ratio of extra pairs, and sentences of
similar length stay together. The sequence is cut greedily into batches whose cost fits
`batch_tokens` (the cost rule of `TokenBudgetBatchSampler`: sentences × the largest
max(src_len + 1, tgt_len + 1); a single sentence over budget gets a batch of its own),
then the batch order is shuffled.

Everything random is drawn from generators seeded by (seed, epoch), so an epoch's plan is
a function of the seed and the epoch number alone: `state_dict()` (epoch and position)
resumes exactly. With `world_size > 1` the epoch's batches are cut to a multiple of the
world size and rank r takes batches r, r + W, … (as in `TokenBudgetBatchSampler`); the
number of batches may differ from epoch to epoch, but it is the same on every rank.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np


class Pairs(Protocol):
    """A dataset of token-id pairs that knows its sentence lengths (e.g. `BinarizedDataset`)."""

    def __len__(self) -> int: ...
    def src(self, index: int) -> np.ndarray: ...
    def tgt(self, index: int) -> np.ndarray: ...
    @property
    def src_lengths(self) -> np.ndarray: ...
    @property
    def tgt_lengths(self) -> np.ndarray: ...


class ConcatPairs:
    """Several pair datasets seen as one, in order (see module doc)."""

    def __init__(self, *datasets: Pairs) -> None:
        self.datasets = datasets
        self.offsets = np.cumsum([0, *(len(d) for d in datasets)])  # offsets[-1] = total sentences

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """(dataset number, index inside that dataset) of view index `index`."""
        if not 0 <= index < len(self):
            raise IndexError(f"sentence {index} out of range for {len(self)} sentences")
        part = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return part, index - int(self.offsets[part])

    def src(self, index: int) -> np.ndarray:
        part, local = self.locate(index)
        return self.datasets[part].src(local)

    def tgt(self, index: int) -> np.ndarray:
        part, local = self.locate(index)
        return self.datasets[part].tgt(local)

    @functools.cached_property
    def src_lengths(self) -> np.ndarray:
        return np.concatenate([d.src_lengths for d in self.datasets])

    @functools.cached_property
    def tgt_lengths(self) -> np.ndarray:
        return np.concatenate([d.tgt_lengths for d in self.datasets])


def _usable(
    src_lengths: Sequence[int] | np.ndarray, tgt_lengths: Sequence[int] | np.ndarray, max_length: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the pairs within `max_length` on both sides, and their costs."""
    src, tgt = np.asarray(src_lengths, dtype=np.int64), np.asarray(tgt_lengths, dtype=np.int64)
    if src.shape != tgt.shape:
        raise ValueError(f"{len(src)} source lengths but {len(tgt)} target lengths")
    keep = np.ones(len(src), dtype=bool) if max_length is None else (src <= max_length) & (tgt <= max_length)
    indices = np.flatnonzero(keep)
    return indices, np.maximum(src, tgt)[indices] + 1


def _by_cost(costs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positions sorted by cost, ties in random order."""
    permutation = rng.permutation(len(costs))
    return permutation[np.argsort(costs[permutation], kind="stable")]


def greedy_cut(costs: np.ndarray, budget: int) -> np.ndarray:
    """Batch boundaries over costs in any order: a batch grows while its size × its largest
    cost stays within `budget` (one sentence at least). Batch b is [bounds[b], bounds[b + 1])."""
    bounds, size, top = [0], 0, 0
    for i, cost in enumerate(costs.tolist()):
        new_top = max(top, cost)
        if size and (size + 1) * new_top > budget:
            bounds.append(i)
            size, top = 1, cost
        else:
            size, top = size + 1, new_top
    if size:
        bounds.append(len(costs))
    return np.asarray(bounds, dtype=np.int64)


class MixedBatchSampler:
    """Token-budget batches with a share `ratio` of extra (general-domain) sentences (see module doc).

    Indices are those of `ConcatPairs(main, extra)`: main pairs first, then extra pairs.
    """

    def __init__(
        self,
        main_lengths: tuple[Sequence[int] | np.ndarray, Sequence[int] | np.ndarray],
        extra_lengths: tuple[Sequence[int] | np.ndarray, Sequence[int] | np.ndarray],
        batch_tokens: int,
        ratio: float,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        max_length: int | None = None,
    ) -> None:
        if not 0.0 < ratio < 1.0:
            raise ValueError(f"ratio must be in (0, 1), got {ratio}")
        if batch_tokens < 1:
            raise ValueError("batch_tokens must be >= 1")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.batch_tokens, self.ratio, self.seed = batch_tokens, ratio, seed
        self.rank, self.world_size = rank, world_size
        self.main_indices, self.main_costs = _usable(*main_lengths, max_length)
        extra_indices, self.extra_costs = _usable(*extra_lengths, max_length)
        self.extra_indices = extra_indices + len(main_lengths[0])  # ConcatPairs numbering
        self.num_dropped = (
            len(main_lengths[0]) + len(extra_lengths[0]) - len(self.main_indices) - len(extra_indices)
        )
        if not len(self.main_indices) or not len(self.extra_indices):
            side = "in-domain" if not len(self.main_indices) else "general-domain"
            raise ValueError(f"no {side} pairs within max_length {max_length}")
        self.n_extra = round(len(self.main_indices) * ratio / (1.0 - ratio))  # extra pairs per epoch
        self.epoch = 0
        self.position = 0
        self._cached: tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None

    def _extra_positions(self, epoch: int) -> np.ndarray:
        """Positions (into the extra arrays) of this epoch's extra pairs: the slice
        [epoch · n_extra, (epoch + 1) · n_extra) of an endless chain of permutations."""
        size = len(self.extra_indices)
        start, end = epoch * self.n_extra, (epoch + 1) * self.n_extra
        parts = []
        for cycle in range(start // size, (end - 1) // size + 1 if end > start else start // size):
            permutation = np.random.default_rng([self.seed, cycle, 1]).permutation(size)
            lo, hi = max(start - cycle * size, 0), min(end - cycle * size, size)
            parts.append(permutation[lo:hi])
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sentence order, batch bounds, this rank's batch numbers in order) of `epoch`."""
        if self._cached is not None and self._cached[0] == epoch:
            return self._cached[1]
        rng = np.random.default_rng([self.seed, epoch])
        main = _by_cost(self.main_costs, rng)
        extra = self._extra_positions(epoch)
        extra = extra[_by_cost(self.extra_costs[extra], rng)]
        keys = np.concatenate(
            [(np.arange(len(main)) + 0.5) / len(main), (np.arange(len(extra)) + 0.5) / max(len(extra), 1)]
        )
        merged = np.argsort(keys, kind="stable")
        order = np.concatenate([self.main_indices[main], self.extra_indices[extra]])[merged]
        costs = np.concatenate([self.main_costs[main], self.extra_costs[extra]])[merged]
        bounds = greedy_cut(costs, self.batch_tokens)
        num_batches = len(bounds) - 1
        batch_order = rng.permutation(num_batches)
        usable = num_batches // self.world_size * self.world_size
        result = order, bounds, batch_order[:usable][self.rank :: self.world_size]
        self._cached = (epoch, result)
        return result

    def __len__(self) -> int:
        """Batches of the current epoch for this rank."""
        return len(self.plan(self.epoch)[2])

    def set_epoch(self, epoch: int) -> None:
        """Start `epoch` from its beginning (no-op when already in it, e.g. after resuming)."""
        if epoch != self.epoch:
            self.epoch, self.position = epoch, 0

    def __iter__(self) -> Iterator[list[int]]:
        order, bounds, batches = self.plan(self.epoch)
        while self.position < len(batches):
            batch = int(batches[self.position])
            self.position += 1
            yield order[bounds[batch] : bounds[batch + 1]].tolist()
        self.epoch, self.position = self.epoch + 1, 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "num_batches": len(self)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        epoch, position = int(state["epoch"]), int(state["position"])
        expected = len(self.plan(epoch)[2])
        if state.get("num_batches", expected) != expected:
            raise ValueError(
                f"sampler state is for {state['num_batches']} batches in epoch {epoch}, this sampler has "
                f"{expected} (different data, mix ratio, batch_tokens or world size)"
            )
        self.epoch, self.position = epoch, position
