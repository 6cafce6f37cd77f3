"""Deep GNN models. Every model is called as ``model(x, edge_index, edge_attr=None)``
and built as ``Model(in_channels, hidden_channels, out_channels, num_layers, *, ...)``."""

from .base import DeepGNN
from .deq import DEQGNN
from .families import FAMILIES, family_class, family_name
from .presets import PRESETS, build_model
from .resgnn import PlainGNN, ResGNN
from .rev_gcnii import GCNIIEncoder, RevGCNII
from .revgnn import RevGNN
from .weight_tied import WeightTied, WTResGNN, WTRevGNN

__all__ = [
    "DeepGNN",
    "PlainGNN",
    "ResGNN",
    "RevGNN",
    "RevGCNII",
    "GCNIIEncoder",
    "WeightTied",
    "WTResGNN",
    "WTRevGNN",
    "DEQGNN",
    "FAMILIES",
    "family_class",
    "family_name",
    "PRESETS",
    "build_model",
]
