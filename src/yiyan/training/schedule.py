"""Learning-rate schedules as plain functions of the update step.

The schedule keeps no state of its own: the learning rate of update `step` (1-based) is
`learning_rate(config, step)`, so resuming needs only the step number.
"""

from __future__ import annotations

import math

from yiyan.config import TrainingConfig


def learning_rate(config: TrainingConfig, step: int, total_steps: int = 0) -> float:
    """Peak rate `config.learning_rate`, reached after `warmup_steps` of linear warmup."""
    peak, warmup = config.learning_rate, max(config.warmup_steps, 0)
    step = max(step, 1)
    if warmup and step < warmup:
        return max(peak * step / warmup, config.min_learning_rate)
    if config.schedule == "inverse_sqrt":  # lr = peak · sqrt(warmup / step)  (Vaswani et al., 2017)
        rate = peak * math.sqrt(max(warmup, 1) / step)
    elif config.schedule in ("linear", "cosine") and total_steps > warmup:
        progress = min((step - warmup) / (total_steps - warmup), 1.0)
        decay = 1.0 - progress if config.schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
        rate = peak * decay
    else:
        rate = peak
    return max(rate, config.min_learning_rate)
