"""Argument checks shared by the whole package, one function per kind of mistake.

Each check returns the value it accepted and otherwise raises a ValueError that names
the argument, what was expected and what was given, worded the same way wherever the
mistake is made:

* :func:`positive_int`: ``num_layers must be a positive integer, got 0``;
* :func:`int_in_range`: ``num_parts must be an integer in 1..num_nodes=40, got 41``;
* :func:`probability`: ``dropout must be in [0, 1), got 1.0``;
* :func:`number_in_range`: ``intra must be a number in [0, 1], got 1.2``;
* :func:`one_of`: ``mode must be one of 'implicit', 'unrolled', got 'explicit'``;
* :func:`model_sizes`: the four sizes every model takes, each a positive integer;
* :func:`group_width`: ``hidden_channels=10 must split into num_groups=3 equal groups``;
* :func:`check_features`: ``x must have shape (N, 16), got (3, 8)``;
* :func:`edge_rows` and :func:`check_edge_attr`: ``edge_attr has 5 rows but edge_index
  has 6 edges`` and edge features given to, or missing from, a module;
* :func:`is_callable`, :func:`float_tensor`, :func:`check_shape`, :func:`on_cpu` and
  :func:`ids_below`: functions, tensors of the right kind, shape and device, and ids
  below a count (e.g. ``part holds ids in 0..3, expected ids in 0..2 (num_parts=3)``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

__all__ = [
    "positive_int",
    "int_at_least",
    "int_in_range",
    "probability",
    "number_in_range",
    "one_of",
    "model_sizes",
    "group_width",
    "check_features",
    "edge_rows",
    "check_edge_attr",
    "check_edge_index",
    "positive_number",
    "boolean",
    "non_empty_str",
    "str_keyed_dict",
    "is_callable",
    "float_tensor",
    "check_shape",
    "on_cpu",
    "ids_below",
]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(name: str, value) -> int:
    """Return ``value`` if it is a positive integer (not a bool), else raise a
    ValueError naming ``name`` and the bad value."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def int_at_least(name: str, value, minimum: int) -> int:
    """Return ``value`` if it is an integer ``>= minimum`` (not a bool), else a
    ValueError naming ``name`` and the bad value."""
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def int_in_range(name: str, value, low: int, high: int, high_name: str | None = None) -> int:
    """Return ``value`` if it is an integer (not a bool) with ``low <= value <= high``,
    else a ValueError; ``high_name`` names the bound (``num_parts must be an integer in
    1..num_nodes=40``)."""
    if not _is_int(value) or not low <= value <= high:
        bound = high if high_name is None else f"{high_name}={high}"
        raise ValueError(f"{name} must be an integer in {low}..{bound}, got {value!r}")
    return int(value)


def probability(name: str, value) -> float:
    """Return ``value`` as a float if it lies in :math:`[0, 1)`, else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def number_in_range(name: str, value, low: float, high: float) -> float:
    """Return ``value`` as a float if it is a real number (not a bool) with
    ``low <= value <= high`` (NaN is not), else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def one_of(name: str, value, choices: Iterable, hint: str = ""):
    """Return ``value`` if it equals one of ``choices`` and has its type (``True`` is not
    ``1``), else a ValueError listing them (``hint`` is added after the list, e.g. how
    else the value may be given)."""
    choices = tuple(choices)
    if not any(type(value) is type(c) and value == c for c in choices):
        listed = ", ".join(map(repr, choices))
        raise ValueError(f"{name} must be one of {listed}{hint}, got {value!r}")
    return value


def model_sizes(
    in_channels, hidden_channels, out_channels, num_layers
) -> tuple[int, int, int, int]:
    """The four sizes every model of the package takes, each checked with
    :func:`positive_int`: ``(in_channels, hidden_channels, out_channels, num_layers)``."""
    return (
        positive_int("in_channels", in_channels),
        positive_int("hidden_channels", hidden_channels),
        positive_int("out_channels", out_channels),
        positive_int("num_layers", num_layers),
    )


def group_width(hidden_channels: int, num_groups, name: str = "hidden_channels") -> int:
    r"""The width :math:`g = D / C` of one of ``num_groups`` groups, if the width
    :math:`D` (called ``name`` in the message) splits into :math:`C \ge 2` equal groups;
    a ValueError otherwise."""
    positive_int("num_groups", num_groups)
    if num_groups < 2 or hidden_channels % num_groups != 0:
        raise ValueError(
            f"{name}={hidden_channels} must split into num_groups={num_groups} "
            f"equal groups (num_groups >= 2 and {hidden_channels} divisible by {num_groups})"
        )
    return hidden_channels // num_groups


def _torch():
    """torch, imported on first use: the command line's checks run before torch loads."""
    import torch

    return torch


def _shape(t) -> object:
    torch = _torch()
    return tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__


def check_features(x, channels: int, what: str = "x") -> None:
    """Raise a ValueError unless ``x`` is a 2-D tensor of ``channels`` columns
    (:func:`check_shape` with shape ``(N, channels)``)."""
    check_shape(what, x, ("N", channels))


def edge_rows(edge_attr, edge_index, owner: str | None = None) -> None:
    """Raise a ValueError unless ``edge_attr`` has one row per column of
    ``edge_index`` (``owner``, when given, starts the message)."""
    if edge_attr.size(0) != edge_index.size(1):
        raise ValueError(
            f"{'' if owner is None else owner + ': '}edge_attr has {edge_attr.size(0)} rows "
            f"but edge_index has {edge_index.size(1)} edges"
        )


def check_edge_attr(edge_attr, edge_index, edge_dim: int | None, owner: str) -> None:
    """Raise a clear ValueError unless ``edge_attr`` fits a module built with
    ``edge_dim``: absent when ``edge_dim`` is :obj:`None`, else of shape
    ``(num_edges, edge_dim)`` with one row per column of ``edge_index``."""
    torch = _torch()
    if edge_dim is None:
        if edge_attr is not None:
            raise ValueError(
                f"{owner} takes no edge features (it was built without "
                f"edge_dim), but edge_attr of shape {_shape(edge_attr)} was "
                f"given; pass edge_attr=None, or build it with edge_dim"
            )
        return
    if edge_attr is None:
        raise ValueError(f"{owner} was built with edge_dim={edge_dim} but edge_attr is None")
    if (
        not isinstance(edge_attr, torch.Tensor)
        or edge_attr.dim() != 2
        or edge_attr.size(1) != edge_dim
    ):
        raise ValueError(
            f"{owner}: edge_attr must have shape (num_edges, {edge_dim}), got {_shape(edge_attr)}"
        )
    if isinstance(edge_index, torch.Tensor) and edge_index.dim() == 2:
        edge_rows(edge_attr, edge_index, owner)


def check_edge_index(edge_index, owner: str, convert: bool = False):
    """Return ``edge_index`` if its dtype is usable as an index: a dense integer tensor
    must be ``torch.long`` (int64). With ``convert=True``, another integer dtype (int32,
    ...) is converted once with ``.long()``; otherwise it raises a clear ValueError
    (PyTorch's CPU backward of ``scatter_reduce("amax")``, used by max aggregation,
    gives NaN gradients with a broadcast int32 index). Anything else (a floating or
    sparse adjacency, a ``SparseTensor``) is returned unchanged."""
    torch = _torch()
    if not isinstance(edge_index, torch.Tensor) or edge_index.layout != torch.strided:
        return edge_index
    if edge_index.dtype == torch.long or edge_index.is_floating_point():
        return edge_index
    if convert and edge_index.dtype != torch.bool and not edge_index.is_complex():
        return edge_index.long()
    raise ValueError(
        f"{owner}: edge_index must be an integer index of dtype torch.long (int64), got "
        f"{edge_index.dtype}; convert it once with edge_index.long() (int32 indices give "
        f"NaN gradients in PyTorch's CPU backward of max aggregation)"
    )


def positive_number(name: str, value, upper: float | None = None) -> float:
    """Return ``value`` as a float if it is a finite number :math:`> 0` (and at most
    ``upper``, if given), else a ValueError."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    if upper is not None and value > upper:
        raise ValueError(f"{name} must be in (0, {upper:g}], got {value!r}")
    return float(value)


def boolean(name: str, value) -> bool:
    """Return ``value`` if it is ``True`` or ``False`` (not 0, 1 or a string), else a
    ValueError."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def non_empty_str(name: str, value) -> str:
    """Return ``value`` if it is a non-empty string, else a ValueError."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def str_keyed_dict(name: str, value) -> dict:
    """Return ``value`` if it is a dict whose keys are all strings, else a ValueError."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{name} must be a dict with string keys, got {value!r}")
    return value


# Tensor arguments: their type and shape, their device, the ids they hold.


def is_callable(name: str, value, expected: str):
    """Return ``value`` if it is callable, else a ValueError saying what was
    ``expected`` (``f must be a callable z -> f(z), got int``)."""
    if not callable(value):
        raise ValueError(f"{name} must be {expected}, got {type(value).__name__}")
    return value


def float_tensor(name: str, value):
    """Return ``value`` if it is a floating point tensor with at least one element, else
    a ValueError giving its type, or its dtype and shape."""
    torch = _torch()
    if not isinstance(value, torch.Tensor) or not value.is_floating_point() or not value.numel():
        got = (
            f"{value.dtype} of shape {tuple(value.shape)}"
            if isinstance(value, torch.Tensor)
            else type(value).__name__
        )
        raise ValueError(f"{name} must be a non-empty floating point tensor, got {got}")
    return value


def check_shape(name: str, value, shape: tuple) -> None:
    """Raise a ValueError unless ``value`` is a tensor of shape ``shape``, in which an
    int is a required size and a string names a free one: ``check_shape("edge_index",
    ei, (2, "E"))`` raises ``edge_index must have shape (2, E), got (3, 4)``."""
    torch = _torch()
    if (
        not isinstance(value, torch.Tensor)
        or value.dim() != len(shape)
        or any(isinstance(s, int) and value.size(i) != s for i, s in enumerate(shape))
    ):
        wanted = ", ".join(map(str, shape))
        raise ValueError(f"{name} must have shape ({wanted}), got {_shape(value)}")


def on_cpu(name: str, value) -> None:
    """Raise a ValueError unless the tensor ``value`` is on the CPU."""
    if value.device.type != "cpu":
        raise ValueError(f"{name} must be on the CPU, got {value.device}")


def ids_below(name: str, ids, count: int, count_name: str) -> None:
    """Raise a ValueError unless every entry of the integer tensor ``ids`` lies in
    ``0..count - 1`` (``part holds ids in 0..4, expected ids in 0..3 (num_parts=4)``)."""
    if ids.numel():
        low, high = (int(v) for v in _torch().aminmax(ids))
        if low < 0 or high >= count:
            raise ValueError(
                f"{name} holds ids in {low}..{high}, expected ids in 0..{count - 1} "
                f"({count_name}={count})"
            )
