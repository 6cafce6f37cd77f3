"""Deep GNN models. Every model is called as ``model(x, edge_index, edge_attr=None)``."""
from .base import DeepGNN
from .resgnn import PlainGNN, ResGNN

__all__ = ["DeepGNN", "PlainGNN", "ResGNN"]
