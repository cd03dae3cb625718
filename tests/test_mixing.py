"""Mixing general-domain pairs into batches: ConcatPairs and MixedBatchSampler."""

from __future__ import annotations

import numpy as np
import pytest

from yiyan.data.batching import collate
from yiyan.data.mixing import ConcatPairs, MixedBatchSampler, greedy_cut
from yiyan.vocab import EOS_ID

BUDGET = 256
RATIO = 0.2


class ListPairs:
    """An in-memory pair dataset: sentence i is [first + i] * length."""

    def __init__(self, src_lengths: np.ndarray, tgt_lengths: np.ndarray, first: int) -> None:
        self.src_lengths, self.tgt_lengths, self.first = src_lengths, tgt_lengths, first

    def __len__(self) -> int:
        return len(self.src_lengths)

    def src(self, index: int) -> np.ndarray:
        return np.full(int(self.src_lengths[index]), self.first + index, dtype=np.int64)

    def tgt(self, index: int) -> np.ndarray:
        return np.full(int(self.tgt_lengths[index]), self.first + index, dtype=np.int64)


def lengths(count: int, seed: int, high: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(3, high, count), rng.integers(3, high, count)


MAIN = lengths(500, seed=1, high=30)
EXTRA = lengths(2000, seed=2, high=40)


def sampler(**options: int) -> MixedBatchSampler:
    return MixedBatchSampler(MAIN, EXTRA, BUDGET, RATIO, seed=options.pop("seed", 3), **options)


def costs(indices: list[int]) -> np.ndarray:
    src = np.concatenate([MAIN[0], EXTRA[0]])[indices]
    tgt = np.concatenate([MAIN[1], EXTRA[1]])[indices]
    return np.maximum(src, tgt) + 1


def test_an_epoch_has_every_in_domain_pair_once_and_the_configured_general_share() -> None:
    batches = list(sampler())
    flat = [i for batch in batches for i in batch]
    main = sorted(i for i in flat if i < 500)
    extra = [i for i in flat if i >= 500]
    assert main == list(range(500))
    assert len(extra) == len(set(extra)) == round(500 * RATIO / (1 - RATIO)) == 125
    assert len(extra) / len(flat) == pytest.approx(RATIO)
    for batch in batches:
        n_extra = sum(i >= 500 for i in batch)
        assert abs(n_extra - RATIO * len(batch)) <= 2, batch  # the share holds per batch, not just overall
        assert len(batch) == 1 or len(batch) * costs(batch).max() <= BUDGET


def test_general_pairs_are_not_repeated_before_all_are_used() -> None:
    mixed = sampler()
    seen: list[int] = []
    for _ in range(16):  # 16 epochs × 125 = all 2000 general pairs
        seen += [i for batch in mixed for i in batch if i >= 500]
    assert sorted(seen) == list(range(500, 2500))


def test_the_plan_is_deterministic_and_depends_on_seed_and_epoch() -> None:
    assert list(sampler()) == list(sampler())
    assert list(sampler()) != list(sampler(seed=4))
    mixed = sampler()
    first, second = list(mixed), list(mixed)
    assert first != second and mixed.epoch == 2


def test_resuming_from_the_state_dict_continues_exactly() -> None:
    straight = sampler()
    expected = list(straight) + list(straight)

    interrupted = sampler()
    iterator = iter(interrupted)
    head = [next(iterator) for _ in range(5)]
    state = interrupted.state_dict()
    resumed = sampler()
    resumed.load_state_dict(state)
    assert head + list(resumed) + list(resumed) == expected


def test_a_state_for_other_data_is_refused() -> None:
    state = sampler().state_dict()
    other = MixedBatchSampler(MAIN, EXTRA, BUDGET // 2, RATIO, seed=3)
    with pytest.raises(ValueError, match="batches"):
        other.load_state_dict(state)


def test_ranks_get_disjoint_batches_of_the_same_count() -> None:
    ranks = [list(sampler(rank=r, world_size=2)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) > 0
    a = {i for batch in ranks[0] for i in batch}
    b = {i for batch in ranks[1] for i in batch}
    assert not a & b


def test_max_length_and_bad_arguments() -> None:
    limited = MixedBatchSampler(MAIN, EXTRA, BUDGET, RATIO, max_length=20)
    flat = [i for batch in limited for i in batch]
    assert costs(flat).max() <= 21 and limited.num_dropped > 0
    for ratio in (0.0, 1.0):
        with pytest.raises(ValueError, match="ratio"):
            MixedBatchSampler(MAIN, EXTRA, BUDGET, ratio)
    with pytest.raises(ValueError, match="no in-domain pairs"):
        MixedBatchSampler(MAIN, EXTRA, BUDGET, RATIO, max_length=1)


def test_greedy_cut_keeps_every_batch_within_the_budget() -> None:
    assert greedy_cut(np.array([3, 5, 2, 10, 4]), 10).tolist() == [0, 2, 3, 4, 5]
    assert greedy_cut(np.array([20, 1]), 10).tolist() == [0, 1, 2]  # over budget: a batch of its own
    assert greedy_cut(np.array([], dtype=np.int64), 10).tolist() == [0]


def test_concat_pairs_maps_indices_and_collates() -> None:
    main = ListPairs(np.array([2, 3]), np.array([1, 2]), first=10)
    extra = ListPairs(np.array([4]), np.array([3]), first=20)
    both = ConcatPairs(main, extra)
    assert len(both) == 3 and both.locate(2) == (1, 0)
    assert both.src_lengths.tolist() == [2, 3, 4] and both.tgt_lengths.tolist() == [1, 2, 3]
    batch = collate(both, [2, 0])
    assert batch.src[0].tolist() == [20, 20, 20, 20, EOS_ID]
    assert batch.tgt_out[1, :2].tolist() == [10, EOS_ID]
    with pytest.raises(IndexError):
        both.src(3)
