"""Learning-rate schedules as plain functions of the update step.

The schedule keeps no state of its own: the learning rate of update `step` (1-based) is
`learning_rate(config, step, total_steps)`, so resuming needs only the step number.

Every schedule warms up linearly from peak/warmup to the peak `learning_rate` over the first
`warmup_steps` updates (`warmup_steps: 0`: no warmup, the first update uses the peak), then:

- constant:     lr = peak
- inverse_sqrt: lr = peak · sqrt(warmup / step)  (Vaswani et al., 2017); the warmup also sets
                where the decay starts, so it needs warmup_steps >= 1 (warmup_steps: 1 = start
                at the peak and decay from the second update)
- linear:       lr = peak · (1 − p)               with p = (step − warmup) / (total − warmup)
- cosine:       lr = peak · (1 + cos(π·p)) / 2

linear and cosine decay to 0 at `total_steps` = `training.max_steps`, so they need it: a run that
stops on `max_time` or `max_epochs` alone has no known last step, and `check_schedule` refuses it
rather than quietly running at a constant rate. No rate goes below `min_learning_rate`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from yiyan.errors import ConfigError

if TYPE_CHECKING:  # config.py calls check_schedule, so this module must not import it at run time
    from yiyan.config import TrainingConfig

DECAYING_TO_END = ("linear", "cosine")


def check_schedule(config: TrainingConfig) -> None:
    """A ConfigError for a schedule the other settings leave undefined (see module doc)."""
    if config.schedule == "inverse_sqrt" and config.warmup_steps < 1:
        raise ConfigError(
            "training.schedule inverse_sqrt needs training.warmup_steps >= 1: the rate is "
            "peak·sqrt(warmup/step) after the warmup (warmup_steps: 1 starts at the peak and decays "
            "at once; schedule: constant has no decay)"
        )
    if config.schedule in DECAYING_TO_END and config.max_steps <= config.warmup_steps:
        raise ConfigError(
            f"training.schedule {config.schedule} decays to 0 at training.max_steps, which must be "
            f"greater than training.warmup_steps ({config.warmup_steps}); it is {config.max_steps}. "
            "A run that stops on max_time or max_epochs has no known last step: set max_steps, or use "
            "schedule inverse_sqrt or constant"
        )


def learning_rate(config: TrainingConfig, step: int, total_steps: int = 0) -> float:
    """The rate of update `step` (1-based); `total_steps` is the horizon of linear/cosine."""
    peak, warmup = config.learning_rate, config.warmup_steps
    step = max(step, 1)
    if step < warmup:
        return max(peak * step / warmup, config.min_learning_rate)
    if config.schedule == "inverse_sqrt":
        rate = peak * math.sqrt(max(warmup, 1) / step)
    elif config.schedule in DECAYING_TO_END:
        if total_steps <= warmup:
            raise ConfigError(f"training.schedule {config.schedule} needs max_steps > warmup_steps")
        progress = min((step - warmup) / (total_steps - warmup), 1.0)
        decay = 1.0 - progress if config.schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
        rate = peak * decay
    else:
        rate = peak
    return max(rate, config.min_learning_rate)
