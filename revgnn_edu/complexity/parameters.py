r"""The exact number of parameters of the five model families and of the presets
(:mod:`revgnn_edu.complexity`): the weights of each layer added up."""

from __future__ import annotations

from torch import nn

from ..checks import group_width, model_sizes, one_of, positive_int
from ..data.ogbn_proteins_facts import (
    NODE_INPUT_CHANNELS,
    NUM_EDGE_FEATURES,
    NUM_SPECIES,
    NUM_TASKS,
)
from ..models.families import family_name
from ..models.presets import get_preset

__all__ = [
    "count_parameters",
    "block_parameters",
    "predict_parameters",
    "predict_preset_parameters",
]

_CONVS = ("gen", "gcn", "sage")


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
    positive_int("width", width)
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
        "edge encoder": _linear(positive_int("edge_dim", edge_dim), D) if edge_dim else 0,
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
    terms = _parameter_terms(family_name(model), F, D, O, L, num_groups, edge_dim, conv, aggr)
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
