"""Building blocks: the pre-activation GNN block, reversible coupling, DEQ layers."""
from .blocks import GNNBlock, ResBlock, check_channels, check_features, make_conv

__all__ = ["GNNBlock", "ResBlock", "check_channels", "check_features", "make_conv"]
