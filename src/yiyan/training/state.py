"""What a resumed run needs besides tensors (`TrainState`), and the rule for the best checkpoint.

The state is saved inside `checkpoints/last` (checkpoint.py) as plain JSON-able values: position
in the data, best score so far, the clocks, and every random generator, so that a resumed run
continues exactly where the interrupted one stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class TrainState:
    """Everything besides tensors that a resumed run needs to continue exactly."""

    step: int = 0
    epoch: int = 0
    sampler: dict[str, Any] = field(default_factory=dict)
    best_score: float = -math.inf
    best_step: int = 0
    best_loss: float = math.inf
    bad_evals: int = 0
    train_seconds: float = 0.0  # time spent in training steps (validation excluded)
    target_tokens: int = 0  # non-padding target tokens trained on
    rng: list[int] = field(default_factory=list)
    cuda_rng: list[list[int]] = field(default_factory=list)
    rank_rng: list[dict[str, list[int]]] = field(default_factory=list)  # per rank, when distributed
    scaler: dict[str, Any] = field(default_factory=dict)  # fp16 GradScaler state

    @classmethod
    def from_saved(cls, saved: dict[str, Any]) -> TrainState:
        """The state a checkpoint stored; keys this version does not know are ignored."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in saved.items() if k in known})

    def record_eval(self, value: float, loss: float) -> bool:
        """Count one evaluation scoring `value` (dev BLEU, or −loss without BLEU) with dev `loss`;
        True when it is the best so far, whose weights the run keeps."""
        # Higher BLEU wins; equal BLEU (early on, often 0) falls back to lower dev loss.
        improved = value > self.best_score or (value == self.best_score and loss < self.best_loss)
        if improved:
            self.best_score, self.best_step, self.bad_evals = value, self.step, 0
            self.best_loss = loss
        else:
            self.bad_evals += 1
        return improved

    def capture_rng(
        self, rank_rng: list[dict[str, list[int]]], device: torch.device, world_size: int
    ) -> None:
        """Store the random generators: this process's, and `rank_rng` (`rng_state` of every rank)
        when distributed."""
        self.rng = torch.get_rng_state().tolist()
        if torch.cuda.is_available() and device.type == "cuda":
            self.cuda_rng = [s.tolist() for s in torch.cuda.get_rng_state_all()]
        self.rank_rng = rank_rng if world_size > 1 else []

    def restore_rng(self, rank: int, world_size: int, device: torch.device) -> None:
        """Put the stored random generators back."""
        own = self.rank_rng[rank] if len(self.rank_rng) == world_size else None
        if own is not None:  # distributed: every rank continues its own random stream
            torch.set_rng_state(torch.tensor(own["cpu"], dtype=torch.uint8))
            if "cuda" in own and device.type == "cuda":
                torch.cuda.set_rng_state(torch.tensor(own["cuda"], dtype=torch.uint8), device)
        else:
            torch.set_rng_state(torch.tensor(self.rng, dtype=torch.uint8))
            if self.cuda_rng and torch.cuda.is_available():
                torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in self.cuda_rng])


# Bookkeeping that rank 0 updates when it validates, then broadcasts to the other ranks.
AGREED = ("best_score", "best_step", "best_loss", "bad_evals")


def rng_state(device: torch.device) -> dict[str, list[int]]:
    """This rank's random generators (CPU, and its GPU when training on one)."""
    state = {"cpu": torch.get_rng_state().tolist()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device).tolist()
    return state
