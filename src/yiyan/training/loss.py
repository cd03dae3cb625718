"""Label-smoothed cross entropy (Szegedy et al., 2016).

The target distribution puts 1 − ε on the reference token y and spreads ε uniformly over the
whole vocabulary of V tokens:

    loss = (1 − ε)·(−log p_y) + ε·mean_v(−log p_v)

(the same as `torch.nn.functional.cross_entropy(..., label_smoothing=ε)`). Sums are returned;
the caller divides by its token count.
"""

from __future__ import annotations

import torch
from torch import Tensor

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
