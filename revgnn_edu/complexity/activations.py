r"""The peak tensor memory of one training step: predicted, and measured with the
package's meter (:mod:`revgnn_edu.memory`).

:func:`predict_activation_bytes` is an **estimate** of the peak tensor memory of one
training step (forward, loss, backward; dropout 0; parameter gradients already
allocated), as :func:`measure_activation_bytes` measures it. It has two parts:

  - what the layers *keep* for backward: a pre-activation GENConv block of width
    :math:`w` keeps :math:`9Nw + 2Ew + 4N` numbers: its input, the ReLU output, the
    scatter-max's zero-filled buffer and its result, the MLP input, the MLP's
    :math:`2w`-wide hidden layer before LayerNorm and after ReLU; the messages after
    ReLU and after :math:`+\epsilon`; the mean and inverse standard deviation of its
    two LayerNorms. An exact count (read off autograd's saved tensors);
  - a *working set* that does not depend on depth: the last layer's backward, the
    encoders and the head, and for RevGNN one group's block recomputed in backward,
    for DEQ-GNN two graphs of :math:`f` and the solver's state. Its coefficients are
    fitted by least squares to the meter's byte counts on random graphs (2-8 groups,
    16-64 channels, 1-15 edges per node). On those
    graphs the estimate is exact for ResGNN and WT-ResGNN; within 8% for RevGNN and
    WT-RevGNN from 2 layers on (a single reversible layer needs up to 25% less, as it
    recomputes nothing below it); exact for DEQ-GNN while the f-evaluations set the
    peak, which is every case but one: on graphs with about one edge per node,
    Anderson's own update (its stacked window) sets the peak once the window is full,
    and the estimate is then up to 12% low.

**Where each constant comes from** (so that measured / predicted = 1 is a test, not a
tautology; ``benchmarks/fit_working_sets.py`` refits the working sets :math:`W` on the
current code and checks them against this table):

=================================== ===================================================
constant                            source
=================================== ===================================================
parameters                          derived: the weights of each layer added up; exact
                                    (:func:`predict_parameters`,
                                    :func:`predict_preset_parameters`)
:math:`9Nw + 2Ew + 4N` per block    derived: autograd's saved tensors of one GENConv
                                    block, listed above and counted with
                                    ``saved_tensors_hooks`` (``tests/test_memory.py``
                                    checks it against the measured slope of ResGNN's
                                    peak over depth); never fitted
:math:`W_{res} = 10ND + 6.25ED +`   fitted with :func:`measure_activation_bytes` on
:math:`(2 + F_{out})N`              depth-1 ResGNNs on random graphs with 1-15 edges
                                    per node and 16-64 channels (the :math:`ED`
                                    coefficient is the change in bytes over the change
                                    in :math:`E`; notebook 07 refits it)
:math:`W_{rev} = 5.75ND + 2.25ED`   fitted on the same kind of graphs with 2-8 groups at
:math:`+ 8.5Ng + 5.5Eg`             depth 4 (without edge features
:math:`+ F_{out}N`                  :math:`6.25ND + 7.5Ng + 6.25Eg + F_{out}N`); the
                                    reversible peak is where the recomputed block and
                                    the gradient streams coincide in backward, which a
                                    short formula approximates
:math:`W_{deq} = 44ND + 13.25ED +`  fitted on the same graphs at one solver iteration
:math:`(16 + F_{out})N`             (without edge features :math:`42ND + 10.25ED +
                                    (16 + F_{out})N`)
solver state, after :math:`K - 1`   derived from the solvers' buffers
updates                             (:mod:`revgnn_edu.solvers`), then checked on the
                                    meter: Anderson :math:`2\min(m, K-1)` :math:`N
                                    \times D` tensors (the window's :math:`z_i` and
                                    :math:`f(z_i)`), one more for the best iterate once
                                    it has left the window; Broyden
                                    :math:`2\min(\text{memory}, K-2) + 5` (the pairs
                                    :math:`u_j, v_j` and a few vectors); fixed-point
                                    iteration :math:`\min(K-1, 2)`
=================================== ===================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from ..checks import group_width, one_of, positive_int
from ..memory import measure_peak_bytes, sweep
from ..models.families import family_name
from .parameters import block_parameters, count_parameters

__all__ = ["predict_activation_bytes", "measure_activation_bytes", "activation_sweep"]

_SOLVERS = ("anderson", "broyden", "fixed_point_iteration")


# numbers one pre-activation GENConv block of width w keeps for backward:
# 9 N w + 2 E w + 4 N (see the module docstring)
_KEEP = (9, 2, 4)
# working sets, in numbers per (N D, E D, N g, E g, N): fitted with the meter on
# random graphs by benchmarks/fit_working_sets.py (see "Where each constant comes from"
# in the module docstring); keyed by (kind, with edge features)
_WORK = {
    ("res", True): (10, 6.25, 0, 0, 2),
    ("res", False): (10, 6.25, 0, 0, 2),
    ("rev", True): (5.75, 2.25, 8.5, 5.5, 0),
    ("rev", False): (6.25, 0, 7.5, 6.25, 0),
    ("deq", True): (44, 13.25, 0, 0, 16),
    ("deq", False): (42, 10.25, 0, 0, 16),
}


def _solver_state(solver: str, window: int | None, K: int) -> float:
    """N x D tensors a solver holds at the step's peak (in the adjoint solve) after
    its ``K - 1`` updates: derived from its buffers, checked on the meter."""
    one_of("solver", solver, _SOLVERS)
    updates = K - 1
    if solver == "anderson":
        m = 5 if window is None else window
        # the window's z_i and f(z_i); the best iterate once it has left the window
        return 2 * min(m, updates) + (updates > m)
    if solver == "broyden":
        memory = 30 if window is None else window
        # u_j, v_j (one pair per update after the first, at most `memory`), 5 vectors
        return 0 if updates == 0 else 2 * min(memory, updates - 1) + 5
    return min(updates, 2)  # fixed-point iteration: f(z_k) and the best iterate


def predict_activation_bytes(
    model: str,
    num_nodes: int,
    num_edges: int,
    hidden_channels: int,
    num_layers: int,
    out_channels: int,
    num_groups: int = 2,
    edge_features: bool = True,
    solver: str = "anderson",
    solver_window: int | None = None,
    dtype_bytes: int = 4,
) -> int:
    r"""Estimated peak memory of one training step of a GENConv model (dropout 0).

    With :math:`k(w) = 9Nw + 2Ew + 4N` the numbers one block of width :math:`w` keeps
    and :math:`W` a calibrated working set that does not grow with depth:

    .. math::
        \text{ResGNN}: (L-1)\,k(D) + W_{res}, \qquad
        \text{WT-ResGNN}: (L-1)\,k(D) + W_{res} + P_{block},

    .. math::
        \text{RevGNN, WT-RevGNN}: W_{rev}(D, g), \qquad
        \text{DEQ-GNN}: W_{deq} + s_{solver}\,ND,

    where :math:`W_{res} = 10ND + 6.25ED + (2 + F_{out})N` is the last layer plus the
    head, :math:`W_{rev} = 5.75ND + 2.25ED + 8.5Ng + 5.5Eg + F_{out}N` (with edge
    features) holds a few :math:`N \times D` streams and one group's block recomputed in
    backward, :math:`W_{deq} = 44ND + 13.25ED + (16 + F_{out})N` holds two graphs of
    :math:`f`,
    :math:`P_{block}` is one transient gradient of the tied weights (WT-RevGNN adds one
    too), and :math:`s_{solver}` is the solver's state in :math:`N \times D` tensors
    (Anderson: :math:`2 \min(m, K-1)`, plus one once :math:`K - 1 > m`; Broyden:
    :math:`2 \min(\text{memory}, K-2) + 5` for :math:`K \ge 2`; fixed-point iteration:
    :math:`\min(K - 1, 2)`).

    Args:
        model (str): one of :data:`MODELS`.
        num_nodes (int): :math:`N`.
        num_edges (int): :math:`E`.
        hidden_channels (int): :math:`D`.
        num_layers (int): depth :math:`L`; for DEQ-GNN the iteration limit :math:`K`.
        out_channels (int): :math:`F_{out}`.
        num_groups (int, optional): :math:`C` for the reversible models. (default: :obj:`2`)
        edge_features (bool, optional): whether the model gets edge features (any
            ``edge_dim``; they are encoded to :math:`D` channels). (default: :obj:`True`)
        solver (str, optional): DEQ-GNN's solver. (default: ``"anderson"``)
        solver_window (int, optional): Anderson's ``m`` (default 5) or Broyden's
            ``memory`` (default 30). (default: :obj:`None`)
        dtype_bytes (int, optional): bytes per number. (default: :obj:`4`)

    Returns:
        int: the estimated peak in bytes.
    """
    name = family_name(model)
    N = positive_int("num_nodes", num_nodes)
    E = positive_int("num_edges", num_edges)
    D = positive_int("hidden_channels", hidden_channels)
    L = positive_int("num_layers", num_layers)
    O = positive_int("out_channels", out_channels)
    edge = bool(edge_features)
    g = group_width(D, num_groups) if "Rev" in name else D
    e = D if edge else None

    def work(kind: str) -> float:
        nd, ed, ng, eg, n = _WORK[kind, edge]
        return nd * N * D + ed * E * D + ng * N * g + eg * E * g + (n + O) * N

    if name in ("ResGNN", "WT-ResGNN"):
        a, b, c = _KEEP
        numbers = (L - 1) * (a * N * D + b * E * D + c * N) + work("res")
        if name == "WT-ResGNN" and L > 1:
            numbers += block_parameters(D, "gen", e)  # gradient of the tied weights
    elif name in ("RevGNN", "WT-RevGNN"):
        numbers = work("rev") + num_groups * block_parameters(g, "gen", e)
        if name == "WT-RevGNN" and L > 1:
            numbers += num_groups * block_parameters(g, "gen", e)
    else:
        numbers = work("deq") + _solver_state(solver, solver_window, L) * N * D
    return int(round(numbers * dtype_bytes))


def _allocate_gradients(model: nn.Module) -> None:
    """Zero gradients for every trainable parameter that has none yet, so that they
    count as allocated before a measurement."""
    for p in model.parameters():
        if p.requires_grad and p.grad is None:
            p.grad = torch.zeros_like(p)


def _training_step(model: nn.Module, data: Data, mask: Tensor | None = None):
    """One training step (forward, cross-entropy, backward) as a function of nothing;
    ``edge_attr`` is passed exactly when the model was built with ``edge_dim``."""
    edge_attr = data.edge_attr if getattr(model, "edge_dim", None) is not None else None

    def step() -> None:
        out = model(data.x, data.edge_index, edge_attr)
        target = data.y
        if mask is not None:
            out, target = out[mask], target[mask]
        torch.nn.functional.cross_entropy(out, target).backward()

    return step


def measure_activation_bytes(
    model: nn.Module, data: Data, mask: Tensor | None = None, backend: str = "tracker", device=None
) -> int:
    r"""Measured peak memory of one training step (forward, cross-entropy, backward)
    above the parameters and their gradients, with
    :func:`~revgnn_edu.memory.measure_peak_bytes`: the package's one activation-memory
    meter.

    Parameter gradients are allocated (as zeros) before the measurement, so the peak
    is activation memory plus the backward pass's working set: the quantity
    :func:`predict_activation_bytes` estimates. The step's gradients are left in
    ``.grad``.

    Args:
        model (torch.nn.Module): called as ``model(x, edge_index, edge_attr)``; it gets
            ``data.edge_attr`` when it has an ``edge_dim``, else :obj:`None`.
        data (torch_geometric.data.Data): ``x``, ``edge_index``, class labels ``y`` and,
            for models with edge features, ``edge_attr``.
        mask (torch.Tensor, optional): the nodes the loss is computed on.
            (default: :obj:`None`, all nodes)
        backend (str, optional): ``"tracker"`` or ``"cuda"``, see
            :func:`~revgnn_edu.memory.measure_peak_bytes`. (default: ``"tracker"``)
        device (torch.device, optional): the CUDA device for ``backend="cuda"``.

    Returns:
        int: the peak in bytes.
    """
    _allocate_gradients(model)
    return measure_peak_bytes(_training_step(model, data, mask), backend=backend, device=device)


def activation_sweep(
    make_model: Callable[[Any], nn.Module],
    values: Iterable[Any],
    data: Data,
    name: str = "depth",
    progress: bool = False,
) -> list[dict]:
    """:func:`measure_activation_bytes` of ``make_model(v)`` for each value ``v``: a
    :func:`~revgnn_edu.memory.sweep` over training steps, with each model's parameter
    count added.

    Args:
        make_model (callable): takes one value (a depth, a width, ...) and returns a
            model; it is built outside the measurement.
        values (iterable): the values to sweep.
        data (torch_geometric.data.Data): the graph, see :func:`measure_activation_bytes`.
        name (str, optional): the column name of the swept value. (default: ``"depth"``)
        progress (bool, optional): show a tqdm progress bar. (default: :obj:`False`)

    Returns:
        list[dict]: one row per value, ``{name: v, "peak_bytes": int, "peak_mib": float,
        "parameters": int}``, ready for :func:`~revgnn_edu.plotting.plot_sweep`.
    """
    counts = []

    def make_step(v):
        model = make_model(v)
        counts.append(count_parameters(model))
        _allocate_gradients(model)
        return _training_step(model, data)

    rows = sweep(make_step, values, name=name, progress=progress)
    for row, count in zip(rows, counts):
        row["parameters"] = count
    return rows
