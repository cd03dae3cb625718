"""Label-smoothed cross entropy (Szegedy et al., 2016).

The target distribution puts 1 − ε on the reference token y and spreads ε uniformly over the
whole vocabulary of V tokens:

    loss = (1 − ε)·(−log p_y) + ε·mean_v(−log p_v)

(the same as `torch.nn.functional.cross_entropy(..., label_smoothing=ε)`). Sums are returned;
the caller divides by its token count. `batch_loss` runs the model on a batch to get them.
"""

from __future__ import annotations

import torch
from torch import Tensor

from yiyan.data.batching import Batch
from yiyan.models.base import Seq2SeqModel
from yiyan.runtime import autocast
from yiyan.vocab import PAD_ID


def label_smoothed_nll(
    logits: Tensor, target: Tensor, smoothing: float, ignore_index: int = PAD_ID
) -> tuple[Tensor, Tensor]:
    """logits [N, V], target [N] → (smoothed loss sum, plain NLL sum), in float32.

    Targets equal to `ignore_index` count 0 (callers pass real positions only; this is a safety net).
    """
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    nll = -log_probs.gather(-1, target.unsqueeze(-1)).squeeze(-1)  # −log p_y
    smooth = -log_probs.mean(dim=-1)  # mean_v(−log p_v)
    ignore = target == ignore_index
    loss = ((1.0 - smoothing) * nll + smoothing * smooth).masked_fill(ignore, 0.0)
    return loss.sum(), nll.detach().masked_fill(ignore, 0.0).sum()


def batch_loss(
    model: Seq2SeqModel,
    batch: Batch,
    smoothing: float,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    forward: torch.nn.Module | None = None,
) -> tuple[Tensor, Tensor]:
    """Summed label-smoothed loss and NLL over the batch's non-padding target tokens.

    `forward` runs the model (training passes its DistributedDataParallel wrapper); default `model`."""
    with autocast(device, amp_dtype):
        hidden = (model if forward is None else forward)(batch.src, batch.src_mask, batch.tgt_in)
        keep = batch.tgt_out != model.special_ids.pad
        logits = model.logits(hidden[keep])  # project only real target positions
    return label_smoothed_nll(logits.float(), batch.tgt_out[keep], smoothing, model.special_ids.pad)
