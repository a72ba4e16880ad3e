"""Data-parallel training under ``torchrun``: process-group setup and cross-rank reductions.

``torchrun --nproc_per_node N -m ckdtrack train ...`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; without them training runs as a single process. GPUs use NCCL (one GPU per
local rank), CPUs use gloo.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..models.runtime import resolve_device


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: str = "auto") -> DistributedContext:
    """Join the process group torchrun describes in the environment, or run alone."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    base = resolve_device(device, "train.device")
    if world_size == 1:
        return DistributedContext(device=base)
    rank = int(os.environ["RANK"])
    if base.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        base = torch.device("cuda", local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if base.type == "cuda" else "gloo")
    return DistributedContext(rank=rank, world_size=world_size, device=base)


def teardown_distributed(context: DistributedContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()


def reduce_sums(values: dict[str, float], context: DistributedContext) -> dict[str, float]:
    """Sum each value over all ranks (identity when running alone)."""
    if not context.enabled:
        return dict(values)
    keys = sorted(values)
    device = context.device if context.device.type == "cuda" else torch.device("cpu")
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return dict(zip(keys, tensor.tolist()))


def broadcast_buffers(module: torch.nn.Module, context: DistributedContext) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank.

    DDP does this at the start of each forward; doing it after an epoch's last step makes the
    checkpoint, validation and every rank's model the same.
    """
    if context.enabled:
        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=0)


def barrier(context: DistributedContext) -> None:
    if context.enabled:
        dist.barrier()
