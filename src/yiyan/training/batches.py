"""Which batches the trainer sees: the endless training stream, the dev batches, the device move."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from yiyan.config import TrainingConfig
from yiyan.data.batching import Batch, TokenBudgetBatchSampler
from yiyan.data.binarize import BinarizedDataset
from yiyan.data.mixing import MixedBatchSampler
from yiyan.errors import YiyanError
from yiyan.training.state import TrainState


def training_batches(
    sampler: TokenBudgetBatchSampler | MixedBatchSampler,
    state: TrainState,
    cfg: TrainingConfig,
    *,
    world_size: int,
    train_pairs: int,
) -> Iterator[list[int]]:
    """Endless stream of index lists, epoch after epoch until `cfg.max_epochs`; `state.epoch`
    counts the epochs, the sampler's state tracks the position."""
    if len(sampler) == 0:  # the same on every rank: an epoch has as many batches on each
        raise YiyanError(
            f"no training batch for {world_size} rank(s): {train_pairs} training pairs, "
            f"batches of {cfg.batch_tokens} tokens, pairs longer than "
            f"training.max_length={cfg.max_length} tokens left out"
        )
    while True:
        yield from sampler
        state.epoch += 1
        if cfg.max_epochs and state.epoch >= cfg.max_epochs:
            return
        sampler.set_epoch(state.epoch)


def dev_sampler(
    dev_data: BinarizedDataset, batch_tokens: int, max_length: int | None
) -> TokenBudgetBatchSampler:
    """Dev batches for the loss. Dev pairs are never filtered (prepare.py), but a pair longer
    than a Transformer's positions (`max_length`) cannot be scored: the loss leaves it out (said
    at the start; dev BLEU translates every pair, cutting over-long input)."""
    return TokenBudgetBatchSampler(
        dev_data.src_lengths,
        dev_data.tgt_lengths,
        batch_tokens,
        seed=0,
        shuffle=False,
        max_length=max_length,
    )


def to_device(batch: Batch, device: torch.device) -> Batch:
    """`batch` on `device` (on the CPU, the collated batch itself)."""
    return batch.to(device) if device.type != "cpu" else batch
