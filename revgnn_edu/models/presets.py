"""The paper's ogbn-proteins models by name: ``build_model("revgnn-deep")``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..checks import one_of, positive_int
from ..data.ogbn_proteins_facts import (
    NODE_INPUT_CHANNELS,
    NUM_EDGE_FEATURES,
    NUM_SPECIES,
    NUM_TASKS,
    split_proteins_node_input,
)
from ..nn.blocks import reset_parameters_of
from .families import family_class, family_name

__all__ = ["PRESETS", "Preset", "ProteinsNodeEncoder", "get_preset", "build_model"]


class ProteinsNodeEncoder(nn.Module):
    r"""The official ogbn-proteins node input:
    :math:`h_i = W [\bar e_i \,\|\, W_s s_i + b_s] + b`, where :math:`\bar e_i` are the
    edge features summed onto node :math:`i` (8 dims) and :math:`s_i` its species
    one-hot (8 dims).

    It takes the arguments of :class:`torch.nn.Linear`, so that it can be a model's
    ``node_encoder``.

    Args:
        in_channels (int): the node input's width, 16
            (:data:`~revgnn_edu.data.NODE_INPUT_CHANNELS`).
        out_channels (int): output width :math:`D`.

    Shapes:
        - **input:** :math:`(N, 16)`: the 8 aggregated edge features, then the one-hot
        - **output:** :math:`(N, D)`
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        one_of("in_channels", in_channels, (NODE_INPUT_CHANNELS,))
        self.species = nn.Linear(NUM_SPECIES, NUM_SPECIES)
        self.lin = nn.Linear(in_channels, out_channels)

    def reset_parameters(self) -> None:
        reset_parameters_of(self)

    def forward(self, x: Tensor) -> Tensor:
        edge_part, species = split_proteins_node_input(x)
        return self.lin(torch.cat([edge_part, self.species(species)], dim=-1))


@dataclass(frozen=True)
class Preset:
    """One named architecture: its family (a name of
    :data:`~revgnn_edu.models.families.FAMILIES`), width, depth and dropout."""

    family: str
    hidden_channels: int
    num_layers: int
    dropout: float

    def __post_init__(self):
        object.__setattr__(self, "family", family_name(self.family))

    def describe(self) -> str:
        """``"RevGNN 1001 x 80, dropout 0.1"``: layers x channels, as the paper writes."""
        return f"{self.family} {self.num_layers} x {self.hidden_channels}, dropout {self.dropout}"


PRESETS: dict[str, Preset] = {
    # the two published models (parameter counts as on the OGB leaderboard)
    "revgnn-deep": Preset("RevGNN", hidden_channels=80, num_layers=1001, dropout=0.1),
    "revgnn-wide": Preset("RevGNN", hidden_channels=224, num_layers=448, dropout=0.2),
    # the paper's 112-layer comparison
    "resgnn-112-64": Preset("ResGNN", hidden_channels=64, num_layers=112, dropout=0.1),
    "revgnn-112-64": Preset("RevGNN", hidden_channels=64, num_layers=112, dropout=0.1),
    "revgnn-112-80": Preset("RevGNN", hidden_channels=80, num_layers=112, dropout=0.1),
    "revgnn-112-224": Preset("RevGNN", hidden_channels=224, num_layers=112, dropout=0.2),
    "wt-revgnn-112-64": Preset("WT-RevGNN", hidden_channels=64, num_layers=112, dropout=0.1),
    "wt-revgnn-112-80": Preset("WT-RevGNN", hidden_channels=80, num_layers=112, dropout=0.1),
    "wt-revgnn-112-224": Preset("WT-RevGNN", hidden_channels=224, num_layers=112, dropout=0.2),
    # DEQ-GNN: num_layers is the solver's iteration limit
    "deq-gnn-64": Preset("DEQ-GNN", hidden_channels=64, num_layers=20, dropout=0.1),
    "deq-gnn-224": Preset("DEQ-GNN", hidden_channels=224, num_layers=20, dropout=0.2),
}


def get_preset(name: str) -> Preset:
    """The :class:`Preset` called ``name``; a ValueError listing the presets otherwise."""
    return PRESETS[one_of("preset", name, PRESETS)]


def build_model(
    preset: str,
    *,
    hidden_channels: int | None = None,
    num_tasks: int = NUM_TASKS,
    num_layers: int | None = None,
    **overrides,
) -> nn.Module:
    """Build the model of a named preset for ogbn-proteins-style input.

    The model takes ``x`` of 16 columns (8 aggregated edge features, then the 8-dim
    species one-hot) through a :class:`ProteinsNodeEncoder`, ``edge_index`` and 8-dim
    ``edge_attr``.

    Args:
        preset (str): one of :data:`PRESETS`, e.g. ``"revgnn-deep"`` (1001 x 80).
        hidden_channels (int, optional): change the preset's width (a positive
            integer; :obj:`None` keeps the preset's).
        num_tasks (int, optional): number of binary tasks, the model's
            ``out_channels``. (default: :obj:`112`)
        num_layers (int, optional): shrink or grow the preset's depth (a positive
            integer; :obj:`None` keeps the preset's).
        **overrides: other constructor arguments, e.g. ``dropout=0.0``.

    Returns:
        torch.nn.Module: the model, called as ``model(x, edge_index, edge_attr)``.
    """
    spec = get_preset(preset)
    # None keeps the preset's value; 0 and negatives are errors, never "the default"
    kwargs = dict(
        edge_dim=NUM_EDGE_FEATURES, dropout=spec.dropout, node_encoder=ProteinsNodeEncoder
    )
    kwargs.update(overrides)
    return family_class(spec.family)(
        NODE_INPUT_CHANNELS,
        spec.hidden_channels if hidden_channels is None else hidden_channels,
        positive_int("num_tasks", num_tasks),
        spec.num_layers if num_layers is None else num_layers,
        **kwargs,
    )
