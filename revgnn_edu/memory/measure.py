"""Measurements with the tracker of :mod:`revgnn_edu.memory.tracker` (or CUDA's
allocator statistics): the peak of one function, its timeline, a sweep over sizes."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..checks import one_of
from .tracker import MemoryTracker, TimelineEvent

__all__ = ["measure_peak_bytes", "measure_timeline", "sweep", "format_bytes"]


@dataclass
class _CudaPeak:
    device: torch.device
    start: int = field(default=0)

    def __enter__(self):
        torch.cuda.synchronize(self.device)
        gc.collect()
        torch.cuda.reset_peak_memory_stats(self.device)
        self.start = torch.cuda.memory_allocated(self.device)
        return self

    def __exit__(self, *exc):
        torch.cuda.synchronize(self.device)
        self.peak = torch.cuda.max_memory_allocated(self.device) - self.start


def measure_peak_bytes(fn: Callable[[], Any], backend: str = "tracker", device=None) -> int:
    """Peak bytes of tensor storage allocated while ``fn()`` runs, above the start.

    Args:
        fn (callable): code to measure, e.g. one training step. Its return value is
            dropped before the measurement ends, so memory it returns is not counted
            as live at the end (but it is counted in the peak).
        backend (str, optional): ``"tracker"`` (default, any device, exact storage
            bytes) or ``"cuda"`` (``torch.cuda.max_memory_allocated``).
        device (torch.device, optional): the CUDA device for ``backend="cuda"``.

    Returns:
        int: the peak in bytes.
    """
    one_of("backend", backend, ("tracker", "cuda"))
    if backend == "tracker":
        with MemoryTracker() as tracker:
            fn()
        return tracker.peak
    if not torch.cuda.is_available():
        raise RuntimeError(
            "measure_peak_bytes(backend='cuda') needs a CUDA device, "
            "but torch.cuda.is_available() is False; use backend='tracker'"
        )
    meter = _CudaPeak(torch.device(device or "cuda"))
    with meter:
        fn()
    return meter.peak


def measure_timeline(fn: Callable[[], Any]) -> list[TimelineEvent]:
    """The live tracked bytes, event by event, while ``fn()`` runs.

    Call :func:`mark_phase` inside ``fn`` to label its phases (``"forward"``,
    ``"backward"``, ``"optimizer"``). The first event is the start (0 bytes, phase
    ``""``); every allocation, release or resize of tracked storage adds one, as does
    every :func:`mark_phase`. The peak is ``max(e.live_bytes for e in timeline)``, the
    same as :func:`measure_peak_bytes`; the last event is what ``fn`` left alive (its
    return value is dropped first).

    Args:
        fn (callable): code to measure, e.g. one training step.

    Returns:
        list[TimelineEvent]: ``(index, live_bytes, phase)`` tuples, integers in bytes.
    """
    with MemoryTracker(record=True) as tracker:
        fn()
    return tracker.timeline


def sweep(
    make_fn: Callable[[Any], Callable[[], Any]],
    values: Iterable[Any],
    name: str = "depth",
    progress: bool = False,
    **measure_kwargs,
) -> list[dict]:
    """Measure the peak memory of ``make_fn(v)()`` for each value ``v``.

    Args:
        make_fn (callable): takes one value (a depth, a width, ...) and returns the
            function to measure. Building the model happens here, outside the
            measurement, so parameters count as already alive.
        values (iterable): the values to sweep.
        name (str, optional): the column name of the swept value. (default: ``"depth"``)
        progress (bool, optional): show a tqdm progress bar. (default: :obj:`False`)
        **measure_kwargs: passed on to :func:`measure_peak_bytes`.

    Returns:
        list[dict]: one row per value, ``{name: v, "peak_bytes": int, "peak_mib": float}``,
        ready for ``pandas.DataFrame(rows)`` or plotting.
    """
    values = list(values)
    if progress:
        from tqdm.auto import tqdm

        values = tqdm(values, desc=f"sweep {name}")
    rows = []
    for v in values:
        fn = make_fn(v)
        peak = measure_peak_bytes(fn, **measure_kwargs)
        rows.append({name: v, "peak_bytes": peak, "peak_mib": peak / 2**20})
        del fn
    return rows


def format_bytes(n: float) -> str:
    """Human-readable bytes, e.g. ``format_bytes(3 * 2**20) == '3.00 MiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
