"""Predicted parameters and training memory of the five model families (paper, Table 1).

The paper states the complexities in big-O form,

=========== ============================ ==================
model       activation memory            parameters
=========== ============================ ==================
ResGNN      :math:`O(LND)`               :math:`O(LD^2)`
RevGNN      :math:`O(ND)`                :math:`O(LD^2)`
WT-ResGNN   :math:`O(LND)`               :math:`O(D^2)`
WT-RevGNN   :math:`O(ND)`                :math:`O(D^2)`
DEQ-GNN     :math:`O(ND)`                :math:`O(D^2)`
=========== ============================ ==================

This module puts numbers on them for the models of this package.

* :func:`predict_parameters` is **exact**: it adds up the weights of the encoders, the
  blocks and the head.
* :func:`predict_activation_bytes` is an **estimate** of the peak tensor memory of one
  training step (forward, loss, backward; dropout 0; parameter gradients already
  allocated), as :func:`measure_activation_bytes` measures it. It has two parts:

  - what the layers *keep* for backward: a pre-activation GENConv block of width
    :math:`w` keeps :math:`9Nw + 2Ew + 4N` numbers: its input, the ReLU output, the
    scatter-max's zero-filled buffer and its result, the MLP input, the MLP's
    :math:`2w`-wide hidden layer before LayerNorm and after ReLU; the messages after
    ReLU and after :math:`+\\epsilon`; the mean and inverse standard deviation of its
    two LayerNorms. An exact count (read off autograd's saved tensors);
  - a *working set* that does not depend on depth: the last layer's backward, the
    encoders and the head, and for RevGNN one group's block recomputed in backward,
    for DEQ-GNN two graphs of :math:`f` and the solver's state. Its coefficients were
    calibrated once against the meter on random graphs (2-8 groups, 16-64 channels,
    1-15 edges per node): the estimate is exact for ResGNN and WT-ResGNN, and for
    DEQ-GNN with Anderson or fixed-point iteration, and within 10% for RevGNN.

All counts are numbers of elements; times ``dtype_bytes`` (4 for float32) gives bytes.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from .memory import measure_peak_bytes

__all__ = ["MODELS", "COMPLEXITY", "block_parameters", "predict_parameters",
           "predict_activation_bytes", "measure_activation_bytes", "activation_sweep"]

MODELS = ("ResGNN", "RevGNN", "WT-ResGNN", "WT-RevGNN", "DEQ-GNN")

#: The paper's Table 1: model -> (activation memory, parameters), in big-O notation.
COMPLEXITY = {
    "ResGNN": ("O(LND)", "O(LD^2)"),
    "RevGNN": ("O(ND)", "O(LD^2)"),
    "WT-ResGNN": ("O(LND)", "O(D^2)"),
    "WT-RevGNN": ("O(ND)", "O(D^2)"),
    "DEQ-GNN": ("O(ND)", "O(D^2)"),
}

_ALIASES = {name.lower().replace("-", ""): name for name in MODELS}
_CONVS = ("gen", "gcn", "sage")
_SOLVERS = ("anderson", "broyden", "fixed_point_iteration")


def _model_name(model: str) -> str:
    key = str(model).lower().replace("-", "").replace("_", "")
    if key not in _ALIASES:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    return _ALIASES[key]


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _groups(hidden_channels: int, num_groups: int) -> int:
    _positive("num_groups", num_groups)
    if num_groups < 2 or hidden_channels % num_groups:
        raise ValueError(f"hidden_channels={hidden_channels} must split into "
                         f"num_groups={num_groups} equal groups (num_groups >= 2)")
    return hidden_channels // num_groups


def _linear(i: int, o: int, bias: bool = True) -> int:
    return i * o + (o if bias else 0)


def _conv_parameters(width: int, conv: str, edge_channels: int | None, aggr: str) -> int:
    """Weights of ``make_conv(conv, width, width, edge_dim=edge_channels, aggr=aggr)``."""
    if conv == "gen":
        # MLP [w, 2w, w] with LayerNorm: Lin(w, 2w) + LN(2w) + Lin(2w, w)
        n = _linear(width, 2 * width) + 2 * (2 * width) + _linear(2 * width, width)
        if edge_channels is not None and edge_channels != width:
            n += _linear(edge_channels, width)  # edge projection to the block width
        return n + (1 if aggr == "softmax" else 0)  # learnable temperature t
    if conv == "gcn":
        return _linear(width, width)
    if conv == "sage":
        return _linear(width, width) + _linear(width, width, bias=False)  # lin_l, lin_r
    raise ValueError(f"conv must be one of {_CONVS} to be counted, got {conv!r}")


def block_parameters(width: int, conv: str = "gen", edge_channels: int | None = None,
                     aggr: str = "max") -> int:
    r"""Parameters of one pre-activation block :math:`\mathrm{conv}(\mathrm{ReLU}(
    \mathrm{LN}(X)))` of width :math:`w` (:class:`~revgnn_edu.nn.GNNBlock`).

    For GENConv: :math:`2w` (LayerNorm) :math:`+ 4w^2 + 7w` (MLP) :math:`+ (F_e + 1)w`
    (edge projection, when the edge features have :math:`F_e \ne w` channels).

    Args:
        width (int): the block width :math:`w`.
        conv (str, optional): ``"gen"``, ``"gcn"`` or ``"sage"``. (default: ``"gen"``)
        edge_channels (int, optional): size of the edge features the block receives.
            (default: :obj:`None`)
        aggr (str, optional): GENConv aggregation. (default: ``"max"``)
    """
    _positive("width", width)
    return 2 * width + _conv_parameters(width, conv, edge_channels, aggr)


def predict_parameters(model: str, in_channels: int, hidden_channels: int,
                       out_channels: int, num_layers: int, num_groups: int = 2,
                       edge_dim: int | None = None, conv: str = "gen",
                       aggr: str = "max") -> int:
    r"""The exact number of parameters of one of the five model families.

    With :math:`P_{io}` the encoders and head and :math:`P(w)` one block of width
    :math:`w` (:func:`block_parameters`), :math:`g = D / C`:

    .. math::
        \text{ResGNN}: P_{io} + L\,P(D), \quad
        \text{RevGNN}: P_{io} + L\,C\,P(g), \quad
        \text{WT-ResGNN}: P_{io} + P(D), \quad
        \text{WT-RevGNN}: P_{io} + C\,P(g), \quad
        \text{DEQ-GNN}: P_{io} + 2\,P_{conv}(D) + 2 \cdot 2D

    Args:
        model (str): ``"ResGNN"``, ``"RevGNN"``, ``"WT-ResGNN"``, ``"WT-RevGNN"`` or
            ``"DEQ-GNN"`` (case and dashes do not matter).
        in_channels (int): node input size :math:`F`.
        hidden_channels (int): width :math:`D`.
        out_channels (int): output size.
        num_layers (int): depth :math:`L` (for DEQ-GNN the iteration limit; it does not
            change the count).
        num_groups (int, optional): groups :math:`C` of the reversible models.
            (default: :obj:`2`)
        edge_dim (int, optional): edge feature size, or :obj:`None`. (default: :obj:`None`)
        conv (str, optional): ``"gen"``, ``"gcn"`` or ``"sage"``. (default: ``"gen"``)
        aggr (str, optional): GENConv aggregation. (default: ``"max"``)

    Returns:
        int: the number of scalar parameters.
    """
    name = _model_name(model)
    F, D, O = (_positive(n, v) for n, v in (("in_channels", in_channels),
                                             ("hidden_channels", hidden_channels),
                                             ("out_channels", out_channels)))
    L = _positive("num_layers", num_layers)
    # node encoder, edge encoder, head LayerNorm and Linear
    io = _linear(F, D) + (_linear(_positive("edge_dim", edge_dim), D) if edge_dim else 0)
    io += 2 * D + _linear(D, O)
    e = D if edge_dim else None  # encoded edge features have D channels
    if name == "ResGNN":
        return io + L * block_parameters(D, conv, e, aggr)
    if name == "WT-ResGNN":
        return io + block_parameters(D, conv, e, aggr)
    if name == "DEQ-GNN":
        return io + 2 * _conv_parameters(D, conv, e, aggr) + 2 * 2 * D  # convs, 2 LNs
    g = _groups(D, num_groups)
    per_layer = num_groups * block_parameters(g, conv, e, aggr)
    return io + (L if name == "RevGNN" else 1) * per_layer


# numbers one pre-activation GENConv block of width w keeps for backward:
# 9 N w + 2 E w + 4 N (see the module docstring)
_KEEP = (9, 2, 4)
# working sets, in numbers per (N D, E D, N g, E g, N); calibrated with the meter
_WORK = {
    ("res", True): (10, 6.25, 0, 0, 2), ("res", False): (10, 6.25, 0, 0, 2),
    ("rev", True): (5, 4.5, 12, 3.25, 0), ("rev", False): (6.25, 0, 9, 6.25, 0),
    ("deq", True): (45, 13.25, 0, 0, 16), ("deq", False): (43, 10.25, 0, 0, 16),
}


def _solver_state(solver: str, window: int | None, K: int) -> float:
    """Numbers of N x D tensors a solver holds in the adjoint solve (calibrated)."""
    if solver == "anderson":
        m = 5 if window is None else window
        return 5 * min(m, K - 1)  # z_i, f(z_i), their stacks and G = F - Z
    if solver == "broyden":
        memory = 30 if window is None else window
        return 2 * min(memory, K - 1) + 5  # u_j, v_j pairs and a few vectors
    if solver == "fixed_point_iteration":
        return 1
    raise ValueError(f"solver must be one of {_SOLVERS}, got {solver!r}")


def predict_activation_bytes(model: str, num_nodes: int, num_edges: int,
                             hidden_channels: int, num_layers: int, out_channels: int,
                             num_groups: int = 2, edge_features: bool = True,
                             solver: str = "anderson", solver_window: int | None = None,
                             dtype_bytes: int = 4) -> int:
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
    head, :math:`W_{rev} = 5ND + 4.5ED + 12Ng + 3.25Eg + F_{out}N` (with edge features)
    holds a few :math:`N \times D` streams and one group's block recomputed in backward,
    :math:`W_{deq} = 45ND + 13.25ED + (16 + F_{out})N` holds two graphs of :math:`f`,
    :math:`P_{block}` is one transient gradient of the tied weights (WT-RevGNN adds one
    too), and :math:`s_{solver}` is the solver's state in :math:`N \times D` tensors
    (Anderson: :math:`5 \min(m, K-1)`; Broyden: :math:`2 \min(\text{memory}, K-1) + 5`;
    fixed-point iteration: 1).

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
    name = _model_name(model)
    N = _positive("num_nodes", num_nodes)
    E = _positive("num_edges", num_edges)
    D = _positive("hidden_channels", hidden_channels)
    L = _positive("num_layers", num_layers)
    O = _positive("out_channels", out_channels)
    edge = bool(edge_features)
    g = _groups(D, num_groups) if "Rev" in name else D
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


def measure_activation_bytes(model: nn.Module, data: Data, mask: Tensor | None = None) -> int:
    r"""Measured peak memory of one training step (forward, cross-entropy, backward)
    above the parameters and their gradients, with
    :func:`~revgnn_edu.memory.measure_peak_bytes`.

    Parameter gradients are allocated (as zeros) before the measurement, so the peak
    is activation memory plus the backward pass's working set: the quantity
    :func:`predict_activation_bytes` estimates.

    Args:
        model (torch.nn.Module): called as ``model(x, edge_index, edge_attr)``.
        data (torch_geometric.data.Data): ``x``, ``edge_index``, class labels ``y`` and,
            when present, ``edge_attr``.
        mask (torch.Tensor, optional): the nodes the loss is computed on.
            (default: :obj:`None`, all nodes)

    Returns:
        int: the peak in bytes.
    """
    for p in model.parameters():
        if p.requires_grad and p.grad is None:
            p.grad = torch.zeros_like(p)
    edge_attr = getattr(data, "edge_attr", None)

    def step() -> None:
        out = model(data.x, data.edge_index, edge_attr)
        target = data.y
        if mask is not None:
            out, target = out[mask], target[mask]
        torch.nn.functional.cross_entropy(out, target).backward()

    return measure_peak_bytes(step)


def activation_sweep(make_model: Callable[[Any], nn.Module], values: Iterable[Any],
                     data: Data, name: str = "depth") -> list[dict]:
    """:func:`measure_activation_bytes` of ``make_model(v)`` for each value ``v``.

    Args:
        make_model (callable): takes one value (a depth, a width, ...) and returns a
            model; it is built outside the measurement.
        values (iterable): the values to sweep.
        data (torch_geometric.data.Data): the graph, see :func:`measure_activation_bytes`.
        name (str, optional): the column name of the swept value. (default: ``"depth"``)

    Returns:
        list[dict]: one row per value, ``{name: v, "peak_bytes": int, "peak_mib": float,
        "parameters": int}``, ready for :func:`~revgnn_edu.plotting.plot_sweep`.
    """
    rows = []
    for v in values:
        model = make_model(v)
        peak = measure_activation_bytes(model, data)
        rows.append({name: v, "peak_bytes": peak, "peak_mib": peak / 2**20,
                     "parameters": sum(p.numel() for p in model.parameters())})
        del model
    return rows
