"""The paper's ogbn-proteins models by name: ``build_model("revgnn-deep")``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..checks import positive_int
from ..data.ogbn_proteins import NUM_EDGE_FEATURES, NUM_SPECIES, NUM_TASKS
from ..nn.blocks import reset_parameters_of
from .families import family_class, family_name

__all__ = [
    "PRESETS",
    "Preset",
    "ProteinsNodeEncoder",
    "build_model",
    "PROTEINS_EDGE_DIM",
    "PROTEINS_IN_CHANNELS",
]

#: ogbn-proteins: 8 edge features (aggregated onto nodes), 8 species (one-hot).
PROTEINS_EDGE_DIM = NUM_EDGE_FEATURES
PROTEINS_IN_CHANNELS = PROTEINS_EDGE_DIM + NUM_SPECIES


class ProteinsNodeEncoder(nn.Module):
    r"""The official ogbn-proteins node input:
    :math:`h_i = W [\bar e_i \,\|\, W_s s_i + b_s] + b`, where :math:`\bar e_i` are the
    edge features summed onto node :math:`i` (8 dims) and :math:`s_i` its species
    one-hot (8 dims).

    Args:
        hidden_channels (int): output width :math:`D`.

    Shapes:
        - **input:** :math:`(N, 16)`: the 8 aggregated edge features, then the one-hot
        - **output:** :math:`(N, D)`
    """

    def __init__(self, hidden_channels: int):
        super().__init__()
        self.species = nn.Linear(NUM_SPECIES, NUM_SPECIES)
        self.lin = nn.Linear(PROTEINS_EDGE_DIM + NUM_SPECIES, hidden_channels)

    def reset_parameters(self) -> None:
        reset_parameters_of(self)

    def forward(self, x: Tensor) -> Tensor:
        edge_part, species = x[:, :PROTEINS_EDGE_DIM], x[:, PROTEINS_EDGE_DIM:]
        return self.lin(torch.cat([edge_part, self.species(species)], dim=-1))


@dataclass(frozen=True)
class Preset:
    """One named architecture: its family (a name of
    :data:`~revgnn_edu.models.families.FAMILIES`), depth, width and dropout."""

    family: str
    num_layers: int
    hidden_channels: int
    dropout: float

    def __post_init__(self):
        object.__setattr__(self, "family", family_name(self.family))

    def describe(self) -> str:
        return f"{self.family} {self.num_layers} x {self.hidden_channels}, dropout {self.dropout}"


PRESETS: dict[str, Preset] = {
    # the two published models (parameter counts as on the OGB leaderboard)
    "revgnn-deep": Preset("RevGNN", 1001, 80, 0.1),
    "revgnn-wide": Preset("RevGNN", 448, 224, 0.2),
    # the paper's 112-layer comparison
    "resgnn-112-64": Preset("ResGNN", 112, 64, 0.1),
    "revgnn-112-64": Preset("RevGNN", 112, 64, 0.1),
    "revgnn-112-80": Preset("RevGNN", 112, 80, 0.1),
    "revgnn-112-224": Preset("RevGNN", 112, 224, 0.2),
    "wt-revgnn-112-64": Preset("WT-RevGNN", 112, 64, 0.1),
    "wt-revgnn-112-80": Preset("WT-RevGNN", 112, 80, 0.1),
    "wt-revgnn-112-224": Preset("WT-RevGNN", 112, 224, 0.2),
    # DEQ-GNN: num_layers is the solver's iteration limit
    "deq-gnn-64": Preset("DEQ-GNN", 20, 64, 0.1),
    "deq-gnn-224": Preset("DEQ-GNN", 20, 224, 0.2),
}


def build_model(
    preset: str,
    num_tasks: int = NUM_TASKS,
    num_layers: int | None = None,
    hidden_channels: int | None = None,
    **overrides,
) -> nn.Module:
    """Build the model of a named preset for ogbn-proteins-style input.

    The model takes ``x`` of 16 columns (8 aggregated edge features, then the 8-dim
    species one-hot), ``edge_index`` and 8-dim ``edge_attr``.

    Args:
        preset (str): one of :data:`PRESETS`, e.g. ``"revgnn-deep"`` (1001 x 80).
        num_tasks (int, optional): number of binary tasks. (default: :obj:`112`)
        num_layers (int, optional): shrink or grow the preset's depth (a positive
            integer; :obj:`None` keeps the preset's).
        hidden_channels (int, optional): change the preset's width (a positive
            integer; :obj:`None` keeps the preset's).
        **overrides: other constructor arguments, e.g. ``dropout=0.0``.

    Returns:
        torch.nn.Module: the model, called as ``model(x, edge_index, edge_attr)``.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    spec = PRESETS[preset]
    # None keeps the preset's value; 0 and negatives are errors, never "the default"
    hidden = spec.hidden_channels if hidden_channels is None else hidden_channels
    layers = spec.num_layers if num_layers is None else num_layers
    for name, value in (
        ("num_tasks", num_tasks),
        ("num_layers", layers),
        ("hidden_channels", hidden),
    ):
        positive_int(name, value)
    kwargs = dict(edge_dim=PROTEINS_EDGE_DIM, dropout=spec.dropout)
    kwargs.update(overrides)
    model = family_class(spec.family)(PROTEINS_IN_CHANNELS, hidden, num_tasks, layers, **kwargs)
    model.node_encoder = ProteinsNodeEncoder(hidden)
    model.preset = preset
    return model
