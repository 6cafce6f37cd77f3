"""The tracker behind :mod:`revgnn_edu.memory`: a dispatch mode that counts the live
bytes of every storage PyTorch allocates while it is active (see that module's
docstring for what is counted), and the phase marks of its timeline."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterable
from typing import Any, NamedTuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

__all__ = ["MemoryTracker", "TimelineEvent", "mark_phase"]


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
