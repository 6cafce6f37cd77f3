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
tautology):

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
:math:`W_{rev} = 4.75ND + 4.5ED`    fitted on the same kind of graphs with 2-8 groups at
:math:`+ 11.25Ng + 3.25Eg`          depth 4 (without edge features
:math:`+ F_{out}N`                  :math:`6.25ND + 8.5Ng + 6.25Eg + F_{out}N`); the
                                    reversible peak is where the recomputed block and
                                    the gradient streams coincide in backward, which a
                                    short formula approximates
:math:`W_{deq} = 44ND + 13.25ED +`  fitted on the same graphs at one solver iteration
:math:`(16 + F_{out})N`             (without edge features :math:`42ND + 10.25ED +
                                    (16 + F_{out})N`)
solver state, after :math:`K - 1`   derived from the solvers' buffers
updates                             (:mod:`revgnn_edu.solvers`), then checked on the
                                    meter: Anderson :math:`2\\min(m, K-1)` :math:`N
                                    \\times D` tensors (the window's :math:`z_i` and
                                    :math:`f(z_i)`), one more for the best iterate once
                                    it has left the window; Broyden
                                    :math:`2\\min(\\text{memory}, K-2) + 5` (the pairs
                                    :math:`u_j, v_j` and a few vectors); fixed-point
                                    iteration :math:`\\min(K-1, 2)`
=================================== ===================================================

Held-out checks, on shapes no fit saw, are in ``tests/test_complexity.py`` (other node
counts, widths and edge feature sizes, every solver) and notebook 07 (width 128, and a
graph with about 50 edges per node without edge features).

All counts are numbers of elements; times ``dtype_bytes`` (4 for float32) gives bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from .checks import group_width, model_sizes, one_of
from .checks import positive_int as _positive
from .data.ogbn_proteins_facts import (
    NODE_INPUT_CHANNELS,
    NUM_EDGE_FEATURES,
    NUM_SPECIES,
    NUM_TASKS,
)
from .memory import measure_peak_bytes, sweep
from .models.families import FAMILIES
from .models.families import family_name as _model_name
from .models.presets import get_preset

__all__ = [
    "MODELS",
    "COMPLEXITY",
    "count_parameters",
    "block_parameters",
    "predict_parameters",
    "predict_preset_parameters",
    "predict_activation_bytes",
    "measure_activation_bytes",
    "activation_sweep",
]

#: The five model families, in the order of the paper's Table 1 (names defined once,
#: on the classes: see :mod:`revgnn_edu.models.families`).
MODELS = tuple(FAMILIES)

#: The paper's Table 1: model -> (activation memory, parameters), in big-O notation.
COMPLEXITY = {name: cls.complexity for name, cls in FAMILIES.items()}

_CONVS = ("gen", "gcn", "sage")
_SOLVERS = ("anderson", "broyden", "fixed_point_iteration")


def count_parameters(module: nn.Module) -> int:
    """The number of scalar parameters of ``module``: what :func:`predict_parameters`
    predicts, counted."""
    return sum(p.numel() for p in module.parameters())


def _linear(i: int, o: int, bias: bool = True) -> int:
    return i * o + (o if bias else 0)


def _conv_parameters(width: int, conv: str, edge_channels: int | None, aggr: str) -> int:
    """Weights of ``make_conv(conv, width, width, edge_dim=edge_channels, aggr=aggr)``."""
    one_of("conv", conv, _CONVS, " (the convs counted here)")
    if conv == "gen":
        # MLP [w, 2w, w] with LayerNorm: Lin(w, 2w) + LN(2w) + Lin(2w, w)
        n = _linear(width, 2 * width) + 2 * (2 * width) + _linear(2 * width, width)
        if edge_channels is not None and edge_channels != width:
            n += _linear(edge_channels, width)  # edge projection to the block width
        return n + (1 if aggr == "softmax" else 0)  # learnable temperature t
    if conv == "gcn":
        return _linear(width, width)
    return _linear(width, width) + _linear(width, width, bias=False)  # SAGE: lin_l, lin_r


def block_parameters(
    width: int, conv: str = "gen", edge_channels: int | None = None, aggr: str = "max"
) -> int:
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


def _parameter_terms(
    name: str,
    F: int,
    D: int,
    O: int,
    L: int,
    num_groups: int,
    edge_dim: int | None,
    conv: str,
    aggr: str,
) -> dict[str, int]:
    """The parameter count of a model, one term per part (see :func:`predict_parameters`)."""
    e = D if edge_dim else None  # encoded edge features have D channels
    terms = {
        "node encoder": _linear(F, D),  # Linear(F, D)
        "edge encoder": _linear(_positive("edge_dim", edge_dim), D) if edge_dim else 0,
    }
    if name == "ResGNN":
        terms["body"] = L * block_parameters(D, conv, e, aggr)
    elif name == "WT-ResGNN":
        terms["body"] = block_parameters(D, conv, e, aggr)
    elif name == "DEQ-GNN":
        terms["body"] = 2 * _conv_parameters(D, conv, e, aggr) + 2 * 2 * D  # convs, 2 LNs
    else:
        per_layer = num_groups * block_parameters(group_width(D, num_groups), conv, e, aggr)
        terms["body"] = (L if name == "RevGNN" else 1) * per_layer
    terms["head"] = 2 * D + _linear(D, O)  # LayerNorm(D), Linear(D, O)
    return terms


def predict_parameters(
    model: str,
    in_channels: int,
    hidden_channels: int,
    out_channels: int,
    num_layers: int,
    num_groups: int = 2,
    edge_dim: int | None = None,
    conv: str = "gen",
    aggr: str = "max",
) -> int:
    r"""The exact number of parameters of one of the five model families.

    With :math:`P_{io}` the encoders and head and :math:`P(w)` one block of width
    :math:`w` (:func:`block_parameters`), :math:`g = D / C`:

    .. math::
        \text{ResGNN}: P_{io} + L\,P(D), \quad
        \text{RevGNN}: P_{io} + L\,C\,P(g), \quad
        \text{WT-ResGNN}: P_{io} + P(D), \quad
        \text{WT-RevGNN}: P_{io} + C\,P(g), \quad
        \text{DEQ-GNN}: P_{io} + 2\,P_{conv}(D) + 2 \cdot 2D

    where :math:`P_{io} = (F + 1)D` (node encoder) :math:`+ (F_e + 1)D` (edge encoder,
    with edge features) :math:`+ 2D + (D + 1)O` (head LayerNorm and Linear).

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
    F, D, O, L = model_sizes(in_channels, hidden_channels, out_channels, num_layers)
    terms = _parameter_terms(_model_name(model), F, D, O, L, num_groups, edge_dim, conv, aggr)
    return sum(terms.values())


def predict_preset_parameters(name: str) -> int:
    r"""The exact number of parameters of a named preset
    (:data:`~revgnn_edu.models.presets.PRESETS`), as
    :func:`~revgnn_edu.models.build_model` builds it for ogbn-proteins.

    Term by term, for width :math:`D`, depth :math:`L`, :math:`C = 2` groups of
    :math:`g = D/2` channels, :math:`O = 112` tasks:

    * **node input encoder** (:class:`~revgnn_edu.models.presets.ProteinsNodeEncoder`):
      the species one-hot goes through ``Linear(8, 8)``, :math:`8 \cdot 8 + 8 = 72`;
      then ``Linear(16, D)`` maps the 8 aggregated edge features and the 8 encoded
      species to :math:`D`, :math:`16D + D`;
    * **edge encoder** ``Linear(8, D)``: :math:`8D + D`;
    * **body**: for RevGNN :math:`L` layers of :math:`C` blocks, each block a
      LayerNorm :math:`2g`, GENConv's MLP :math:`g \to 2g \to g` with its LayerNorm,
      :math:`(2g^2 + 2g) + 4g + (2g^2 + g)`, and the edge projection
      :math:`D \to g`, :math:`Dg + g`; so :math:`12g^2 + 20g` per layer. WT-RevGNN has
      one such layer, ResGNN :math:`L` blocks of width :math:`D`, DEQ-GNN two GENConvs
      of width :math:`D` and two LayerNorms (see :func:`predict_parameters`);
    * **head**: LayerNorm :math:`2D` and ``Linear(D, 112)``, :math:`112D + 112`.

    For ``"revgnn-deep"`` (:math:`L = 1001`, :math:`D = 80`, :math:`g = 40`):
    :math:`72 + 1360 + 720 + 1001 \cdot 20000 + 160 + 9072 = 20{,}031{,}384`, the count
    on the OGB leaderboard; ``"revgnn-wide"`` gives :math:`68{,}471{,}608`.

    Args:
        name (str): a preset name, e.g. ``"revgnn-deep"``.

    Returns:
        int: the number of scalar parameters.
    """
    spec = get_preset(name)
    D = spec.hidden_channels
    # build_model's defaults: 112 tasks, RevGNN's 2 groups, GENConv with max aggregation
    terms = _parameter_terms(
        spec.family,
        NODE_INPUT_CHANNELS,
        D,
        NUM_TASKS,
        spec.num_layers,
        2,
        NUM_EDGE_FEATURES,
        "gen",
        "max",
    )
    # the node encoder is the species Linear(8, 8), then Linear(16, D)
    terms["node encoder"] = _linear(NUM_SPECIES, NUM_SPECIES) + _linear(NODE_INPUT_CHANNELS, D)
    return sum(terms.values())


# numbers one pre-activation GENConv block of width w keeps for backward:
# 9 N w + 2 E w + 4 N (see the module docstring)
_KEEP = (9, 2, 4)
# working sets, in numbers per (N D, E D, N g, E g, N): fitted with the meter on
# random graphs (see "Where each constant comes from" in the module docstring);
# keyed by (kind, with edge features)
_WORK = {
    ("res", True): (10, 6.25, 0, 0, 2),
    ("res", False): (10, 6.25, 0, 0, 2),
    ("rev", True): (4.75, 4.5, 11.25, 3.25, 0),
    ("rev", False): (6.25, 0, 8.5, 6.25, 0),
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
    head, :math:`W_{rev} = 4.75ND + 4.5ED + 11.25Ng + 3.25Eg + F_{out}N` (with edge
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
    name = _model_name(model)
    N = _positive("num_nodes", num_nodes)
    E = _positive("num_edges", num_edges)
    D = _positive("hidden_channels", hidden_channels)
    L = _positive("num_layers", num_layers)
    O = _positive("out_channels", out_channels)
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
