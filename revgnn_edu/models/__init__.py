"""Deep GNN models. Every model is called as ``model(x, edge_index, edge_attr=None)``."""
from .base import DeepGNN
from .deq import DEQGNN
from .presets import PRESETS, build_model
from .resgnn import PlainGNN, ResGNN
from .revgnn import RevGNN
from .weight_tied import WTResGNN, WTRevGNN

__all__ = ["DeepGNN", "PlainGNN", "ResGNN", "RevGNN", "WTResGNN", "WTRevGNN", "DEQGNN",
           "PRESETS", "build_model"]
