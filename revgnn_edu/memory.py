"""Measure the peak tensor memory of a piece of PyTorch code.

The meter answers one question: *while ``fn()`` runs, how many bytes of tensor storage
are alive at most, above what was alive when it started?*

On every device it works the same way: a :class:`~torch.utils._python_dispatch.
TorchDispatchMode` sees every ATen operator (forward, backward, custom autograd
functions and PyG's message passing alike), registers each *new* storage an operator
returns, and a ``weakref.finalize`` on that storage subtracts its bytes when the last
reference to it dies -- whether the reference lived in Python, in a saved autograd
tensor or on a custom function's ``ctx``. ``UntypedStorage.resize_`` is wrapped while
any measurement runs, so storage freed in place with ``resize_(0)`` (the trick
reversible networks use) is seen as freed. Like the dispatch mode, which sees only the
operators of the thread that entered it, the wrapper counts only resizes made by a
measuring thread, for that thread's tracker: other threads' allocations and resizes do
not change a measurement. The count is exact: it depends neither on the process RSS nor
on the caching allocator.

On CUDA, ``backend="cuda"`` reads ``torch.cuda.max_memory_allocated`` instead, which
additionally includes allocator rounding and library workspaces; the two agree within a
few percent for realistic tensor sizes.
"""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

__all__ = ["MemoryTracker", "measure_peak_bytes", "sweep", "format_bytes"]


def _storages(objs: Iterable[Any]) -> list[torch.UntypedStorage]:
    """The untyped storages of all plain tensors in a (nested) list of objects."""
    out = []
    for obj in objs:
        if isinstance(obj, torch.Tensor) and obj.layout == torch.strided:
            try:
                out.append(obj.untyped_storage())
            except (RuntimeError, NotImplementedError):  # tensors without storage
                pass
    return out


class _ResizeWrapper:
    """Wraps ``UntypedStorage.resize_`` while at least one tracker is active (in any
    thread) and hands each resize to the trackers of the thread that made it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0  # active trackers, all threads
        self.orig = None
        self.local = threading.local()  # .trackers: this thread's active trackers

    def trackers(self) -> list:
        if not hasattr(self.local, "trackers"):
            self.local.trackers = []
        return self.local.trackers

    def enter(self, tracker: MemoryTracker) -> None:
        with self.lock:
            if self.users == 0:
                self.orig = orig = torch.UntypedStorage.resize_
                wrapper = self

                def resize_(storage, size):
                    mine = wrapper.trackers()
                    for t in mine:
                        t._before_resize(storage)
                    result = orig(storage, size)
                    for t in mine:
                        t._update(storage)
                    return result

                torch.UntypedStorage.resize_ = resize_
            self.users += 1
        self.trackers().append(tracker)

    def exit(self, tracker: MemoryTracker) -> None:
        self.trackers().remove(tracker)
        with self.lock:
            self.users -= 1
            if self.users == 0:
                torch.UntypedStorage.resize_ = self.orig


_RESIZE = _ResizeWrapper()


class MemoryTracker(TorchDispatchMode):
    """Counts live tensor storage created inside a ``with`` block; see the module docs.

    Attributes:
        current (int): bytes of tracked storage alive now.
        peak (int): the largest value ``current`` reached.
    """

    def __init__(self) -> None:
        super().__init__()
        self.current = 0
        self.peak = 0
        self._nbytes: dict[int, int] = {}  # id(storage) -> bytes we counted for it
        self._finalizers: dict[int, weakref.finalize] = {}

    # -- bookkeeping -------------------------------------------------------------------
    def _free(self, key: int) -> None:
        self.current -= self._nbytes.pop(key, 0)
        self._finalizers.pop(key, None)

    def _register(self, storage: torch.UntypedStorage) -> None:
        key = id(storage)
        if key in self._nbytes:
            return
        nbytes = storage.nbytes()
        self._nbytes[key] = nbytes
        self._finalizers[key] = weakref.finalize(storage, self._free, key)
        self.current += nbytes
        self.peak = max(self.peak, self.current)

    def _before_resize(self, storage: torch.UntypedStorage) -> None:
        """A storage that existed before the measurement and is resized now is
        registered with its old size first, so only the change counts."""
        key = id(storage)
        if key not in self._nbytes:
            self._nbytes[key] = storage.nbytes()
            self._finalizers[key] = weakref.finalize(storage, self._free, key)

    def _update(self, storage: torch.UntypedStorage) -> None:
        """Re-read the size of a tracked storage after an in-place resize."""
        key = id(storage)
        if key in self._nbytes:
            new = storage.nbytes()
            self.current += new - self._nbytes[key]
            self._nbytes[key] = new
            self.peak = max(self.peak, self.current)

    # -- the dispatch hook -------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        inputs = {id(s) for s in _storages(tree_flatten((args, kwargs))[0])}
        out = func(*args, **kwargs)
        for storage in _storages(tree_flatten(out)[0]):
            if id(storage) in inputs:  # a view or an in-place op: maybe resized
                self._update(storage)
            else:  # a fresh allocation
                self._register(storage)
        return out

    def __enter__(self):
        gc.collect()
        _RESIZE.enter(self)
        return super().__enter__()

    def __exit__(self, *exc):
        _RESIZE.exit(self)
        for fin in list(self._finalizers.values()):
            fin.detach()
        self._finalizers.clear()
        self._nbytes.clear()
        return super().__exit__(*exc)


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
    if backend == "tracker":
        with MemoryTracker() as tracker:
            fn()
        return tracker.peak
    if backend == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                "measure_peak_bytes(backend='cuda') needs a CUDA device, "
                "but torch.cuda.is_available() is False; use backend='tracker'"
            )
        meter = _CudaPeak(torch.device(device or "cuda"))
        with meter:
            fn()
        return meter.peak
    raise ValueError(f"backend must be 'tracker' or 'cuda', got {backend!r}")


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
