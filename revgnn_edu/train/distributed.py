"""torch.distributed helpers for partition-parallel training.

Each helper is a no-op (or the identity) without a process group, so the training loop
reads the same with one process or many. ``torchrun`` describes the group through the
environment; :func:`init_distributed` joins it.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = [
    "init_distributed",
    "rank_and_world",
    "barrier",
    "all_finite",
    "mean_over_processes",
    "gather",
    "broadcast",
]


def init_distributed(device: str = "auto") -> str:
    """Join the process group that ``torchrun`` describes, if any; return the device.

    With ``WORLD_SIZE`` > 1 in the environment (set by ``torchrun``), each process
    uses the nccl backend and GPU ``LOCAL_RANK`` when CUDA is used, else gloo on the CPU.
    Without it, nothing happens and ``device`` is returned unchanged.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return device
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    else:
        device = "cpu"
    dist.init_process_group("nccl" if use_cuda else "gloo")
    return device


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` without a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _world() -> int:
    return rank_and_world()[1]


def barrier() -> None:
    """Wait for every process."""
    if _world() > 1:
        dist.barrier()


def all_finite(loss: Tensor) -> bool:
    """Whether the loss is finite on every process (so all stop together)."""
    flag = torch.isfinite(loss.detach()).float().reshape(1)
    if _world() > 1:
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def mean_over_processes(value: float) -> float:
    """The mean of a Python float over the processes."""
    world = _world()
    if world == 1:
        return value
    values = [None] * world
    dist.all_gather_object(values, value)
    return sum(values) / world


def gather(obj) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every process."""
    world = _world()
    if world == 1:
        return [obj]
    objs = [None] * world
    dist.all_gather_object(objs, obj)
    return objs


def broadcast(obj):
    """Rank 0's ``obj`` on every process."""
    if _world() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
