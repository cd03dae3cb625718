"""Binarized shards and the dataset over them; token-budget batching; collation."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from yiyan.data.batching import TokenBudgetBatchSampler, collate
from yiyan.data.binarize import BinarizedDataset, binarize, id_dtype
from yiyan.data.tokenizer import BOS_ID, EOS_ID, PAD_ID, Tokenizer
from yiyan.errors import DataError

# --- binarize --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_binarized(
    tmp_path_factory: pytest.TempPathFactory, data_tokenizer: Tokenizer, data_text_files: tuple[Path, Path]
) -> Path:
    out = tmp_path_factory.mktemp("bin")
    binarize(data_tokenizer, {"train": data_text_files}, out, shard_size=70, chunk_size=32)
    return out


def test_dataset_round_trip_equals_encode(
    data_binarized: Path, data_tokenizer: Tokenizer, data_text_files: tuple[Path, Path]
) -> None:
    dataset = BinarizedDataset(data_binarized, "train")
    src_lines, tgt_lines = (p.read_text(encoding="utf-8").splitlines() for p in data_text_files)
    assert len(dataset) == len(src_lines) == 300
    assert dataset.meta["splits"]["train"]["shards"] == [70, 70, 70, 70, 20]
    assert dataset.meta["dtype"] == {"src": "uint16", "tgt": "uint16"}
    assert dataset.meta["src_vocab_size"] == data_tokenizer.src_vocab_size
    for i in (0, 69, 70, 71, 299):
        assert dataset.src(i).tolist() == data_tokenizer.encode_src(src_lines[i])
        assert dataset.tgt(i).tolist() == data_tokenizer.encode_tgt(tgt_lines[i])
    expected = [len(ids) for ids in data_tokenizer.encode_batch(tgt_lines, "tgt")]
    assert dataset.tgt_lengths.tolist() == expected
    assert dataset.meta["splits"]["train"]["tgt_tokens"] == sum(expected)
    with pytest.raises(IndexError):
        dataset.src(300)
    copy = pickle.loads(pickle.dumps(dataset))
    assert len(pickle.dumps(dataset)) < 500  # pickled as a path, not as data
    assert copy.tgt(123).tolist() == dataset.tgt(123).tolist()


def test_workers_write_identical_files(
    tmp_path: Path, data_binarized: Path, data_tokenizer: Tokenizer, data_text_files: tuple[Path, Path]
) -> None:
    binarize(data_tokenizer, {"train": data_text_files}, tmp_path, workers=2, shard_size=70, chunk_size=32)
    names = sorted(p.name for p in data_binarized.iterdir())
    assert names == sorted(p.name for p in tmp_path.iterdir())
    for name in names:
        assert (tmp_path / name).read_bytes() == (data_binarized / name).read_bytes(), name


def test_line_count_mismatch(tmp_path: Path, data_tokenizer: Tokenizer) -> None:
    (tmp_path / "a").write_text("one\ntwo\n", encoding="utf-8")
    (tmp_path / "b").write_text("一\n", encoding="utf-8")
    with pytest.raises(DataError, match="1 lines, but"):
        binarize(data_tokenizer, {"train": (tmp_path / "a", tmp_path / "b")}, tmp_path / "bin")


def test_id_dtype() -> None:
    assert id_dtype(8000) == np.uint16 and id_dtype(65535) == np.uint16 and id_dtype(65536) == np.int32


# --- batching --------------------------------------------------------------------------


def lengths(n: int = 500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(1, 60, n), rng.integers(1, 60, n)


def epoch(sampler: TokenBudgetBatchSampler) -> list[list[int]]:
    return list(sampler)


def test_batches_fit_the_budget_and_cover_every_sentence_once() -> None:
    src, tgt = lengths()
    src[7] = 500  # alone above the budget: a batch of its own
    sampler = TokenBudgetBatchSampler(src, tgt, batch_tokens=256, seed=1)
    batches = epoch(sampler)
    assert len(batches) == len(sampler)
    for batch in batches:
        cost = len(batch) * max(max(src[i], tgt[i]) + 1 for i in batch)
        assert cost <= 256 or len(batch) == 1
    assert [7] in batches
    assert sorted(i for batch in batches for i in batch) == list(range(500))
    sizes = [len(b) for b in batches]
    assert max(sizes) >= 10  # short sentences share big batches


def test_sentences_of_one_cost_keep_their_target_lengths_mixed() -> None:
    """Batches are cut from a random order within each cost, not one sorted by target length:
    batches that all share one target length slowed learning per update (see the module doc)."""
    rng = np.random.default_rng(3)
    src, tgt = rng.integers(1, 20, 20000), rng.integers(1, 20, 20000)  # short sentences, as Tatoeba's

    def distinct_target_lengths(batches: list[list[int]]) -> float:
        return float(np.mean([len(set(tgt[b].tolist())) for b in batches if len(b) >= 8]))

    for shuffle in (False, True):
        sampler = TokenBudgetBatchSampler(src, tgt, batch_tokens=512, seed=1, shuffle=shuffle)
        by_target_too = np.lexsort((tgt, np.maximum(src, tgt) + 1))  # cost, then target length
        grouped = [by_target_too[a:b] for a, b in zip(sampler._bounds, sampler._bounds[1:], strict=False)]
        assert distinct_target_lengths(epoch(sampler)) > 2 * distinct_target_lengths(grouped)


def test_max_length_drops_and_counts() -> None:
    src, tgt = lengths()
    sampler = TokenBudgetBatchSampler(src, tgt, batch_tokens=256, seed=1, max_length=40)
    used = {i for batch in epoch(sampler) for i in batch}
    too_long = {i for i in range(500) if src[i] > 40 or tgt[i] > 40}
    assert sampler.num_dropped == len(too_long) > 0
    assert used == set(range(500)) - too_long


def test_epochs_differ_and_seeds_repeat() -> None:
    src, tgt = lengths()
    a = TokenBudgetBatchSampler(src, tgt, batch_tokens=256, seed=1)
    b = TokenBudgetBatchSampler(src, tgt, batch_tokens=256, seed=1)
    first, second = epoch(a), epoch(a)  # the epoch advances by itself
    assert first != second and a.epoch == 2
    assert epoch(b) == first
    b.set_epoch(1)
    assert epoch(b) == second
    other = TokenBudgetBatchSampler(src, tgt, batch_tokens=256, seed=2)
    assert epoch(other) != first
    ordered = TokenBudgetBatchSampler(src, tgt, batch_tokens=256, shuffle=False)
    assert epoch(ordered) == epoch(ordered)


@pytest.mark.parametrize("world_size", [2, 3])
def test_ranks_get_disjoint_equal_shares(world_size: int) -> None:
    src, tgt = lengths()
    whole = TokenBudgetBatchSampler(src, tgt, batch_tokens=256, seed=5)
    whole.set_epoch(3)
    all_batches = epoch(whole)
    ranks = [
        TokenBudgetBatchSampler(src, tgt, 256, seed=5, rank=r, world_size=world_size)
        for r in range(world_size)
    ]
    shares = []
    for sampler in ranks:
        sampler.set_epoch(3)
        shares.append(epoch(sampler))
    assert {len(s) for s in shares} == {len(whole) // world_size}
    flat = [tuple(b) for share in shares for b in share]
    assert len(set(flat)) == len(flat)  # disjoint
    usable = len(all_batches) - len(all_batches) % world_size
    assert sorted(flat) == sorted(tuple(b) for b in all_batches[:usable])  # the epoch, less the remainder


def test_resume_mid_epoch() -> None:
    src, tgt = lengths()
    sampler = TokenBudgetBatchSampler(src, tgt, batch_tokens=256, seed=9)
    sampler.set_epoch(4)
    iterator = iter(sampler)
    seen = [next(iterator) for _ in range(5)]
    state = sampler.state_dict()
    rest = list(iterator)
    assert state == {"epoch": 4, "position": 5, "num_batches": len(sampler)}

    resumed = TokenBudgetBatchSampler(src, tgt, batch_tokens=256, seed=9)
    resumed.load_state_dict(state)
    resumed.set_epoch(4)  # what a trainer does after resuming: no reset
    assert list(resumed) == rest
    fresh = TokenBudgetBatchSampler(src, tgt, batch_tokens=256, seed=9)
    fresh.set_epoch(4)
    assert seen + rest == epoch(fresh)
    assert resumed.state_dict()["epoch"] == 5 and epoch(resumed) == epoch(sampler)
    with pytest.raises(ValueError, match="batches per epoch"):
        TokenBudgetBatchSampler(src, tgt, batch_tokens=64, seed=9).load_state_dict(state)


# --- collation -------------------------------------------------------------------------


class ListDataset:
    def __init__(self, pairs: list[tuple[list[int], list[int]]]) -> None:
        self.pairs = pairs

    def src(self, index: int) -> np.ndarray:
        return np.array(self.pairs[index][0])

    def tgt(self, index: int) -> np.ndarray:
        return np.array(self.pairs[index][1])


def test_collate_shapes_and_masks() -> None:
    dataset = ListDataset([([5, 6, 7], [8]), ([9], [10, 11, 12, 13]), ([4, 4], [4, 4])])
    batch = collate(dataset, [1, 0])
    assert batch.src.tolist() == [[9, EOS_ID, PAD_ID, PAD_ID], [5, 6, 7, EOS_ID]]
    assert batch.src_mask.tolist() == [[True, True, False, False], [True] * 4]
    assert batch.tgt_in.tolist() == [[BOS_ID, 10, 11, 12, 13], [BOS_ID, 8, PAD_ID, PAD_ID, PAD_ID]]
    assert batch.tgt_out.tolist() == [[10, 11, 12, 13, EOS_ID], [8, EOS_ID, PAD_ID, PAD_ID, PAD_ID]]
    assert batch.src.dtype == torch.long and batch.src_mask.dtype == torch.bool
    assert (batch.n_tgt_tokens, batch.n_sentences, batch.indices) == (7, 2, [1, 0])
    moved = batch.to("cpu")
    assert torch.equal(moved.tgt_in, batch.tgt_in)


def test_collate_binarized(data_binarized: Path) -> None:
    dataset = BinarizedDataset(data_binarized, "train")
    sampler = TokenBudgetBatchSampler(dataset.src_lengths, dataset.tgt_lengths, batch_tokens=200, seed=0)
    for indices in sampler:
        batch = collate(dataset, indices)
        assert batch.src.shape[0] * max(batch.src.shape[1], batch.tgt_in.shape[1]) <= 200
        assert batch.src_mask.sum().item() == sum(int(dataset.src_lengths[i]) + 1 for i in indices)
