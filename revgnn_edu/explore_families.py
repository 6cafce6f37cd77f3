"""Build any of the five model families at any size and measure their memory over a
sweep (notebook 07). Imports no matplotlib; :mod:`revgnn_edu.explore` re-exports both
functions beside its figures."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from torch import nn
from torch_geometric.data import Data
from tqdm.auto import tqdm

from .checks import positive_int
from .complexity import MODELS, activation_sweep
from .models.families import family_class, family_name
from .solvers import ConvergenceWarning

__all__ = ["build_family", "family_sweep"]


def build_family(
    name: str,
    depth: int,
    width: int,
    *,
    num_groups: int = 2,
    in_channels: int = 16,
    out_channels: int = 4,
    edge_dim: int | None = 8,
    solver_options: dict[str, Any] | None = None,
    **kwargs,
) -> nn.Module:
    r"""One model of the family ``name`` with GENConv blocks, sized by ``depth`` and
    ``width``: :math:`L` = ``depth`` layers (DEQ-GNN: ``depth`` solver iterations).

    Args:
        name (str): a family of :data:`~revgnn_edu.complexity.MODELS`, any spelling
            (``"WT-RevGNN"``, ``"wtrevgnn"``).
        depth (int): number of layers, or DEQ-GNN's number of solver iterations.
        width (int): hidden channels :math:`D`.
        num_groups (int, optional): groups :math:`C` of RevGNN and WT-RevGNN (the
            other families have none). (default: :obj:`2`)
        in_channels (int, optional): node features. (default: :obj:`16`)
        out_channels (int, optional): classes. (default: :obj:`4`)
        edge_dim (int, optional): edge features, :obj:`None` for none.
            (default: :obj:`8`)
        solver_options (dict, optional): DEQ-GNN's solver options. (default:
            ``{"tol": 1e-30}``, which forces all ``depth`` iterations)
        **kwargs: other constructor arguments of every family, e.g. ``dropout=0.1``.

    Returns:
        torch.nn.Module: the model, called as ``model(x, edge_index, edge_attr)``.
    """
    name = family_name(name)
    cls = family_class(name)
    if "Rev" in name:
        kwargs["num_groups"] = positive_int("num_groups", num_groups)
    if name == "DEQ-GNN":
        kwargs["solver_options"] = {"tol": 1e-30, **(solver_options or {})}
    elif solver_options is not None:
        raise ValueError(f"solver_options={solver_options!r} is for DEQ-GNN only, not {name}")
    return cls(in_channels, width, out_channels, depth, edge_dim=edge_dim, **kwargs)


def family_sweep(
    make_model: Callable[[str, Any], nn.Module],
    values: Sequence[Any],
    data: Data,
    name: str = "depth",
    families: Iterable[str] = MODELS,
    progress: bool = True,
) -> dict[str, list[dict]]:
    """:func:`~revgnn_edu.complexity.activation_sweep` of every family: the exact peak
    memory of one training step and the parameter count of ``make_model(family, v)``
    for each value ``v``, with DEQ-GNN's convergence warnings silenced.

    Args:
        make_model (callable): takes a family name and one value, returns a model,
            e.g. ``lambda name, d: build_family(name, d, 32)``.
        values (sequence): the values to sweep (depths, widths, ...).
        data (torch_geometric.data.Data): the graph, see
            :func:`~revgnn_edu.complexity.measure_activation_bytes`.
        name (str, optional): the column name of the swept value. (default: ``"depth"``)
        families (iterable of str, optional): the families. (default: all five)
        progress (bool, optional): one tqdm progress bar per family. (default: :obj:`True`)

    Returns:
        dict[str, list[dict]]: family -> one row per value, ``{name: v, "peak_bytes",
        "peak_mib", "parameters"}``.
    """
    values = list(values)
    if not values:
        raise ValueError("family_sweep needs at least one value to sweep, got none")
    families = [family_name(f) for f in families]
    result = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for family in families:
            steps = tqdm(values, desc=family, disable=not progress)
            result[family] = activation_sweep(
                lambda v, family=family: make_model(family, v), steps, data, name=name
            )
    return result
