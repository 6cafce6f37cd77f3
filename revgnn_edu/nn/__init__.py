"""Building blocks: the pre-activation GNN block, reversible coupling, DEQ layers."""
from .blocks import GNNBlock, ResBlock, check_channels, check_features, make_conv
from .dropout import SharedDropout, dropout_mask
from .deq_block import DEQGraphBlock
from .implicit import DEQFixedPoint, unrolled
from .reversible import GroupReversible

__all__ = ["GNNBlock", "ResBlock", "check_channels", "check_features", "make_conv",
           "SharedDropout", "dropout_mask", "GroupReversible", "DEQFixedPoint", "unrolled",
           "DEQGraphBlock"]
