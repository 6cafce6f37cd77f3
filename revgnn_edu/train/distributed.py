"""torch.distributed helpers for partition-parallel training.

Each helper is a no-op (or the identity) without a process group, so the training loop
reads the same with one process or many. ``torchrun`` describes the group through the
environment; :func:`init_distributed` joins it.

The loop's own messages between processes (losses, flags, random states, rank 0's
verdict after evaluating) go through a gloo group on the CPU, with the run's timeout: a
process that stops answering (stopped, crashed, hung) makes the others raise
:class:`DistributedTimeoutError` naming it, instead of waiting forever. The gradients
go through the main group (nccl on GPUs), as DistributedDataParallel sets up.
"""

from __future__ import annotations

import datetime
import os
import re
import signal
import sys
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = [
    "DistributedTimeoutError",
    "init_distributed",
    "setup_groups",
    "exit_with_parent",
    "rank_and_world",
    "watch",
    "barrier",
    "all_finite",
    "mean_over_processes",
    "gather",
    "broadcast",
    "shutdown",
]

_groups: dict = {"control": None, "watch": None, "timeout": None}


class DistributedTimeoutError(RuntimeError):
    """Another process stopped answering (the message names it when rank 0 can tell)."""


def exit_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Linux: have the kernel send ``sig`` to this process when its parent dies.

    Under ``torchrun`` the parent is the agent: if it is killed (``kill -9``), the
    workers get SIGTERM, stop between two saves and release the run's lock, instead of
    training on unsupervised. Returns whether it was set up.
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(sig), 0, 0, 0) != 0:  # 1 = PR_SET_PDEATHSIG
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # the parent died before the request
        os.kill(os.getpid(), sig)
    return True


def init_distributed(device: str = "auto", timeout: float = 600.0) -> str:
    """Join the process group that ``torchrun`` describes, if any; return the device.

    With ``WORLD_SIZE`` > 1 in the environment (set by ``torchrun``), each process
    uses the nccl backend and GPU ``LOCAL_RANK`` when CUDA is used, else gloo on the CPU;
    collectives give up after ``timeout`` seconds. Without it, nothing happens and
    ``device`` is returned unchanged. Under ``torchrun`` (even with one process) the
    process also stops when the agent dies (:func:`exit_with_parent`).

    Raises:
        RuntimeError: ``device`` asks for CUDA and CUDA is not available.
    """
    if "TORCHELASTIC_RUN_ID" in os.environ:
        exit_with_parent()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return device
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if not torch.cuda.is_available():
            raise RuntimeError(f"--device {device} was asked for but CUDA is not available")
        if local >= torch.cuda.device_count():
            raise RuntimeError(
                f"LOCAL_RANK {local} needs GPU {local}, and there are "
                f"{torch.cuda.device_count()}: start at most that many processes per machine"
            )
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    else:
        device = "cpu"
    dist.init_process_group(
        "nccl" if use_cuda else "gloo", timeout=datetime.timedelta(seconds=timeout)
    )
    setup_groups(timeout)
    return device


def setup_groups(timeout: float) -> None:
    """Create the gloo groups of the loop's messages (every process must call it)."""
    if _world() == 1 or _groups["control"] is not None:
        return
    delta = datetime.timedelta(seconds=timeout)
    _groups["control"] = dist.new_group(backend="gloo", timeout=delta)
    _groups["watch"] = dist.new_group(backend="gloo", timeout=delta)
    _groups["timeout"] = timeout


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` without a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _world() -> int:
    return rank_and_world()[1]


def _silent_ranks() -> str | None:
    """Ask every process to answer once: the ranks that do not (known on rank 0)."""
    wait = min(_groups["timeout"] or 60.0, 120.0)
    try:
        dist.monitored_barrier(
            group=_groups["watch"], timeout=datetime.timedelta(seconds=wait), wait_all_ranks=True
        )
    except RuntimeError as err:
        found = re.search(r"Ranks? ([\d, ]+) failed to pass monitoredBarrier", str(err))
        return found.group(1).strip() if found else None
    return None


def _stopped_message(what: str, err: Exception) -> str:
    rank = rank_and_world()[0]
    silent = _silent_ranks() if _groups["watch"] is not None else None
    seconds = _groups["timeout"]
    waited = f"within {seconds:g} s " if seconds else ""
    if silent is not None:
        return (
            f"rank {rank}: rank {silent} stopped answering (no reply {waited}while {what}; "
            f"it was stopped, crashed or hangs)"
        )
    return (
        f"rank {rank}: the other processes stopped answering (no reply {waited}while "
        f"{what}); rank 0 names the one that stopped, unless it is rank 0 itself "
        f"({str(err).strip().splitlines()[0][:200]})"
    )


_LOST = ("Timed out", "timed out", "Connection closed", "Connection reset", "Broken pipe")


@contextmanager
def watch(what: str):
    """Turn a collective that times out or loses a peer inside the block into a
    :class:`DistributedTimeoutError` naming the process that stopped answering."""
    try:
        yield
    except RuntimeError as err:
        if _world() == 1 or isinstance(err, DistributedTimeoutError):
            raise
        if not any(text in str(err) for text in _LOST):
            raise
        raise DistributedTimeoutError(_stopped_message(what, err)) from None


def _control():
    if _groups["control"] is None:  # a group set up by the caller: same timeout as it
        setup_groups(_groups["timeout"] or 1800.0)
    return _groups["control"]


def _call(what: str, fn):
    try:
        return fn(_control())
    except RuntimeError as err:
        if isinstance(err, DistributedTimeoutError):
            raise
        raise DistributedTimeoutError(_stopped_message(what, err)) from None


def barrier(what: str = "waiting for every process") -> None:
    """Wait for every process."""
    if _world() > 1:
        _call(what, lambda group: dist.barrier(group=group))


def all_finite(loss: Tensor) -> bool:
    """Whether the loss is finite on every process (so all stop together)."""
    flag = torch.isfinite(loss.detach()).float().reshape(1).cpu()
    if _world() > 1:
        _call(
            "comparing the losses of a step",
            lambda group: dist.all_reduce(flag, op=dist.ReduceOp.MIN, group=group),
        )
    return bool(flag.item())


def mean_over_processes(value: float) -> float:
    """The mean of a Python float over the processes."""
    world = _world()
    if world == 1:
        return value
    return sum(gather(value, "averaging the epoch's loss")) / world


def gather(obj, what: str = "gathering from every process") -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every process."""
    world = _world()
    if world == 1:
        return [obj]
    objs = [None] * world
    _call(what, lambda group: dist.all_gather_object(objs, obj, group=group))
    return objs


def broadcast(obj, what: str = "waiting for rank 0"):
    """Rank 0's ``obj`` on every process."""
    if _world() == 1:
        return obj
    box = [obj]
    _call(what, lambda group: dist.broadcast_object_list(box, src=0, group=group))
    return box[0]


def shutdown() -> None:
    """Leave the process group (if any) and forget the loop's groups."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _groups.update(control=None, watch=None, timeout=None)
