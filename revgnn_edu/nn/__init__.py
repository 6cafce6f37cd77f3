"""Building blocks: the pre-activation GNN block, reversible coupling, DEQ layers."""

from .blocks import (
    GNNBlock,
    ResBlock,
    check_edge_attr,
    check_features,
    make_conv,
    reset_parameters_of,
)
from .deq_block import DEQGraphBlock
from .dropout import SharedDropout, dropout_mask
from .implicit import DEQFixedPoint, unrolled
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
    "GroupReversible",
    "DEQFixedPoint",
    "unrolled",
    "DEQGraphBlock",
    "ForwardState",
    "capture",
    "replay",
]
