"""Exponential moving average (EMA) of the model's weights (`training.ema_decay`).

After every optimizer step the fp32 shadow moves toward the trained weights:

    shadow ← shadow + (1 − d_t) · (θ − shadow),   d_t = min(decay, (1 + t) / (10 + t))

(one fused `torch._foreach_lerp_` over all parameters). The warm-up `d_t` (as in TensorFlow's
ExponentialMovingAverage with `num_updates`) lets the average follow the fast early changes
instead of dragging the random initialisation along: with decay 0.999 and no warm-up, 41 % of
the shadow would still be the initial weights after 900 updates. `t` is the optimizer step, so
a resumed run, which restores the shadow from its checkpoint, continues bit for bit.

The trainer evaluates — and keeps as the run's best model — the averaged weights: `swap`
exchanges shadow and live weights in place (exact, and its own inverse), so evaluation needs no
second model in memory.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from yiyan.errors import CheckpointError

WARMUP_OFFSET = 10  # d_t = (1 + t) / (WARMUP_OFFSET + t) early on


class ExponentialMovingAverage:
    """An fp32 shadow copy of `model`'s parameters (tied parameters once)."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        named = list(model.named_parameters())  # de-duplicated: a tied parameter appears once
        self.names = [name for name, _ in named]
        self.params = [param for _, param in named]
        self.shadow = [param.detach().float().clone() for param in self.params]

    @classmethod
    def for_model(cls, model: torch.nn.Module, decay: float) -> ExponentialMovingAverage | None:
        """The EMA of `model`, or None when `decay` is 0 (off)."""
        return cls(model, decay) if decay > 0 else None

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1 + step) / (WARMUP_OFFSET + step))

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Fold in the weights after optimizer step `step` (1-based)."""
        weight = 1.0 - self.decay_at(step)
        live = [param.detach().float() for param in self.params]  # no copy for fp32 parameters
        torch._foreach_lerp_(self.shadow, live, weight)

    @torch.no_grad()
    def swap(self) -> None:
        """Exchange the live weights and the shadow (calling it twice restores both exactly)."""
        for param, shadow in zip(self.params, self.shadow, strict=True):
            live = param.detach().clone()
            param.copy_(shadow)
            shadow.copy_(live)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The shadow by parameter name, for a safetensors file in the training checkpoint."""
        return {name: tensor.contiguous().cpu() for name, tensor in zip(self.names, self.shadow, strict=True)}

    @torch.no_grad()
    def load_state_tensors(self, tensors: dict[str, torch.Tensor] | None) -> None:
        """Restore the shadow saved by `state_tensors`; None (a checkpoint written without EMA)
        starts the average from the current weights."""
        if tensors is None:
            self.shadow = [param.detach().float().clone() for param in self.params]
            return
        if set(tensors) != set(self.names):
            raise CheckpointError(
                "the checkpoint's EMA weights do not match the model "
                f"(missing: {sorted(set(self.names) - set(tensors))[:5]}, "
                f"unexpected: {sorted(set(tensors) - set(self.names))[:5]})"
            )
        for name, shadow in zip(self.names, self.shadow, strict=True):
            if tensors[name].shape != shadow.shape:
                raise CheckpointError(
                    f"the checkpoint's EMA weight '{name}' has shape {tuple(tensors[name].shape)}"
                )
            shadow.copy_(tensors[name])


@torch.no_grad()
def load_ema_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Put the EMA saved in a training checkpoint (`checkpoints/last/ema.safetensors`) into `model`."""
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: not found — was the run trained with training.ema_decay > 0?")
    ema = ExponentialMovingAverage(model, decay=0.5)  # the decay plays no part in loading
    ema.load_state_tensors(load_file(str(path)))
    ema.swap()
