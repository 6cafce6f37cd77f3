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

from .measure import format_bytes, measure_peak_bytes, measure_timeline, sweep
from .tracker import MemoryTracker, TimelineEvent, mark_phase

__all__ = [
    "MemoryTracker",
    "TimelineEvent",
    "measure_peak_bytes",
    "measure_timeline",
    "mark_phase",
    "sweep",
    "format_bytes",
]
