"""The process group as the trainer sees it: rank, world size and the few collectives it uses.

Launched by `torchrun`, every rank reads RANK / WORLD_SIZE / LOCAL_RANK from the environment; a
plain process is world size 1, and then every collective returns its input without communicating.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist


class Distributed:
    """Rank/world-size view; a single process is world size 1.

    Every method that communicates is a collective: all ranks call it, in the same order. Rank 0
    evaluating while the others wait in a collective is fine as long as the wait is shorter than
    the process-group timeout (YIYAN_DIST_TIMEOUT seconds, default 1800; NCCL's own default of
    10 minutes would be too short for a long dev-set decode).
    """

    def __init__(self, device: torch.device) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = device if device.type == "cuda" else torch.device("cpu")  # NCCL wants GPU tensors
        if self.world_size > 1 and not dist.is_initialized():
            dist.init_process_group(
                backend="nccl" if device.type == "cuda" else "gloo",
                timeout=timedelta(seconds=float(os.environ.get("YIYAN_DIST_TIMEOUT", "1800"))),
            )

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self.world_size > 1:
            dist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks."""
        if self.world_size == 1:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return [float(v) for v in tensor.tolist()]

    def max(self, value: int) -> int:
        """The largest `value` of all ranks."""
        if self.world_size == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.int64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return int(tensor.item())

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value` on every rank."""
        if self.world_size == 1:
            return value
        holder = [value]
        dist.broadcast_object_list(holder, src=0)
        return holder[0]

    def gather(self, value: Any) -> list[Any]:
        """Every rank's `value`, by rank."""
        if self.world_size == 1:
            return [value]
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def close(self) -> None:
        if self.world_size > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
