"""Measure the peak tensor memory of a piece of PyTorch code.

The meter answers one question: *while ``fn()`` runs, how many bytes of tensor storage
are alive at most, above what was alive when it started?*

On every device it works the same way: a :class:`~torch.utils._python_dispatch.
TorchDispatchMode` sees every ATen operator (forward, backward, custom autograd
functions and PyG's message passing alike), registers each *new* storage an operator
returns (the indices and values of a sparse result included), and a
``weakref.finalize`` on that storage subtracts its bytes when the last reference to it
dies -- whether the reference lived in Python, in a saved autograd tensor or on a custom
function's ``ctx``. ``UntypedStorage.resize_`` is wrapped while any measurement runs, so
storage freed in place with ``resize_(0)`` (the trick reversible networks use) is seen
as freed. Like the dispatch mode, which sees only the operators of the thread that
entered it, the wrapper counts only resizes made by a measuring thread, for that
thread's tracker: other threads' allocations and resizes do not change a measurement.
The count is exact: it depends neither on the process RSS nor on the caching
allocator.

What is counted, precisely:

* every storage allocated by a PyTorch operator while ``fn`` runs, including tensors
  built from Python data (``torch.tensor(list)``, ``torch.as_tensor(list)``,
  ``tensor.new_tensor(list)``: the only operator they dispatch is ``aten.lift_fresh``,
  whose input the meter recognizes as a fresh allocation) and copies of NumPy arrays
  (``torch.tensor(array)``);
* growth and shrinkage of a storage alive before the measurement, made while ``fn``
  runs (``buf.resize_(...)``, an ``out=`` argument that an operator enlarges,
  ``untyped_storage().resize_(n)``): the change counts, and from then on the storage is
  tracked, so its release counts in full.

Outside the count: memory that PyTorch did not allocate and only wraps without a copy
(``torch.from_numpy``, ``torch.as_tensor(array)``, ``torch.frombuffer``,
``torch.utils.dlpack.from_dlpack``: it belongs to NumPy or the exporting library); a
storage constructed directly rather than by an operator (``torch.UntypedStorage(n)``,
the storages ``torch.load`` creates); and the release of a storage that was alive at the
start and never resized (its bytes stay in the baseline).

With ``record=True`` the tracker also keeps a *timeline*: one event per change of the
live bytes, labelled with the phase set by :func:`mark_phase` (forward, backward,
optimizer, ...); :func:`measure_timeline` returns it.

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
from typing import Any, NamedTuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

__all__ = [
    "MemoryTracker",
    "TimelineEvent",
    "measure_peak_bytes",
    "measure_timeline",
    "mark_phase",
    "sweep",
    "format_bytes",
]

_SPARSE_PARTS = {  # the strided tensors that hold a sparse tensor's data
    torch.sparse_coo: ("_indices", "_values"),
    torch.sparse_csr: ("crow_indices", "col_indices", "values"),
    torch.sparse_csc: ("ccol_indices", "row_indices", "values"),
    torch.sparse_bsr: ("crow_indices", "col_indices", "values"),
    torch.sparse_bsc: ("ccol_indices", "row_indices", "values"),
}


def _storages(objs: Iterable[Any]) -> list[torch.UntypedStorage]:
    """The untyped storages of all tensors in a (nested) list of objects (for a sparse
    tensor, those of its indices and values)."""
    out = []
    for obj in objs:
        if not isinstance(obj, torch.Tensor):
            continue
        parts = [obj]
        if obj.layout in _SPARSE_PARTS:
            parts = [getattr(obj, name)() for name in _SPARSE_PARTS[obj.layout]]
        for t in parts:
            if t.layout != torch.strided:
                continue
            try:
                out.append(t.untyped_storage())
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


class TimelineEvent(NamedTuple):
    """One change of the live tracked bytes (or a phase mark) in a recorded timeline."""

    index: int  # position in the timeline: 0, 1, 2, ...
    live_bytes: int  # tracked bytes alive just after the event, above the start
    phase: str  # the label set by the last mark_phase() ("" before the first)


class MemoryTracker(TorchDispatchMode):
    """Counts live tensor storage created inside a ``with`` block; see the module docs.

    Args:
        record (bool, optional): keep a timeline of every change of the live bytes in
            :attr:`timeline`. (default: :obj:`False`)

    Attributes:
        current (int): bytes of tracked storage alive now.
        peak (int): the largest value ``current`` reached.
        phase (str): the label of the present phase (see :meth:`mark`).
        timeline (list[TimelineEvent] or None): with ``record=True``, one event per
            change of ``current`` and per :meth:`mark`; :obj:`None` otherwise.
    """

    def __init__(self, record: bool = False) -> None:
        super().__init__()
        self.current = 0
        self.peak = 0
        self.phase = ""
        self.timeline: list[TimelineEvent] | None = [] if record else None
        self._nbytes: dict[int, int] = {}  # id(storage) -> bytes we counted for it
        self._finalizers: dict[int, weakref.finalize] = {}

    def mark(self, phase: str) -> None:
        """Label the events from now on with ``phase`` (recorded as an event too)."""
        self.phase = str(phase)
        if self.timeline is not None:
            self.timeline.append(TimelineEvent(len(self.timeline), self.current, self.phase))

    # -- bookkeeping -------------------------------------------------------------------
    def _change(self, delta: int) -> None:
        if delta == 0:
            return
        self.current += delta
        self.peak = max(self.peak, self.current)
        if self.timeline is not None:
            self.timeline.append(TimelineEvent(len(self.timeline), self.current, self.phase))

    def _free(self, key: int) -> None:
        self._finalizers.pop(key, None)
        self._change(-self._nbytes.pop(key, 0))

    def _track(self, storage: torch.UntypedStorage, counted: int) -> None:
        """Follow ``storage`` from now on, having counted ``counted`` bytes for it."""
        key = id(storage)
        self._nbytes[key] = counted
        self._finalizers[key] = weakref.finalize(storage, self._free, key)

    def _register(self, storage: torch.UntypedStorage) -> None:
        """A storage allocated now: count all of it."""
        if id(storage) in self._nbytes:
            return
        nbytes = storage.nbytes()
        self._track(storage, nbytes)
        self._change(nbytes)

    def _before_resize(self, storage: torch.UntypedStorage) -> None:
        """A storage that existed before the measurement and is resized now is
        followed from its old size on, so only the change counts."""
        if id(storage) not in self._nbytes:
            self._track(storage, storage.nbytes())

    def _update(self, storage: torch.UntypedStorage) -> None:
        """Re-read the size of a tracked storage after an in-place resize."""
        key = id(storage)
        if key in self._nbytes:
            new = storage.nbytes()
            delta, self._nbytes[key] = new - self._nbytes[key], new
            self._change(delta)

    # -- the dispatch hook -------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        # the inputs' storages and sizes: an operator may resize one in place
        inputs = {id(s): (s, s.nbytes()) for s in _storages(tree_flatten((args, kwargs))[0])}
        out = func(*args, **kwargs)
        for storage, before in inputs.values():
            if storage.nbytes() != before:  # resized (resize_, an enlarged out=)
                if id(storage) not in self._nbytes:  # alive before the measurement
                    self._track(storage, before)
                self._update(storage)
        fresh = func is torch.ops.aten.lift_fresh.default  # torch.tensor(data)'s storage
        for storage in _storages(tree_flatten(out)[0]):
            if id(storage) not in inputs:  # a fresh allocation
                self._register(storage)
            elif fresh and storage.resizable():  # PyTorch's own memory, not NumPy's
                self._register(storage)
        return out

    def __enter__(self):
        gc.collect()
        _RESIZE.enter(self)
        if self.timeline is not None:
            self.timeline.append(TimelineEvent(0, 0, self.phase))  # the start
        return super().__enter__()

    def __exit__(self, *exc):
        _RESIZE.exit(self)
        for fin in list(self._finalizers.values()):
            fin.detach()
        self._finalizers.clear()
        self._nbytes.clear()
        return super().__exit__(*exc)


def mark_phase(phase: str) -> None:
    """Label what follows with ``phase`` in the timeline of every recording
    :class:`MemoryTracker` active in this thread (a no-op when none records), e.g.
    ``mark_phase("backward")`` inside a function given to :func:`measure_timeline`."""
    for tracker in _RESIZE.trackers():
        tracker.mark(phase)


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
