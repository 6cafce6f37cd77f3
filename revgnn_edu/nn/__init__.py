"""Building blocks: the pre-activation GNN block, GCNII's block, reversible coupling, DEQ
layers."""

from .blocks import (
    GNNBlock,
    ResBlock,
    check_edge_attr,
    check_features,
    make_conv,
    reset_parameters_of,
)
from .deq_block import DEQGraphBlock
from .dropout import SharedDropout, dropout_mask, uniform_dropout
from .implicit import DEQFixedPoint, unrolled
from .initial_residual import GCNIIBlock, gcn_adjacency
from .recompute import ForwardState, capture, replay
from .reversible import GroupReversible

__all__ = [
    "GNNBlock",
    "ResBlock",
    "check_edge_attr",
    "check_features",
    "make_conv",
    "reset_parameters_of",
    "SharedDropout",
    "dropout_mask",
    "uniform_dropout",
    "GroupReversible",
    "GCNIIBlock",
    "gcn_adjacency",
    "DEQFixedPoint",
    "unrolled",
    "DEQGraphBlock",
    "ForwardState",
    "capture",
    "replay",
]
