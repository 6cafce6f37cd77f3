"""Deep GNN models. Every model is called as ``model(x, edge_index, edge_attr=None)``."""
from .base import DeepGNN
from .presets import PRESETS, build_model
from .resgnn import PlainGNN, ResGNN
from .revgnn import RevGNN

__all__ = ["DeepGNN", "PlainGNN", "ResGNN", "RevGNN", "PRESETS", "build_model"]
