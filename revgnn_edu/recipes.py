"""The Cora comparison's models at their settings, and the one rule that trains them all.

Kipf & Welling's 2-layer GCN at its published recipe, and a reversible GCNII
(:class:`~revgnn_edu.models.RevGCNII`) whose settings were chosen on the validation nodes
of Cora's public split only. Notebook 04 and ``benchmarks/bench_cora.py`` both build
them from here::

    recipe = CORA_RECIPES["rev-gcnii"]
    fit_seeds(lambda seed: recipe.build(data.num_features, 7), data, range(10),
              **recipe.fit_kwargs, **CORA_RULE)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from .checks import one_of
from .models import PlainGNN, RevGCNII

__all__ = ["CORA_RULE", "CORA_RECIPES", "Recipe", "get_recipe", "prepare_features"]

#: One training rule for every model: Adam, full batch, up to 1000 epochs; after each
#: epoch the model is scored in evaluation mode, the epoch with the lowest validation
#: cross-entropy is kept, and training stops after 100 epochs without a new lowest
#: (GCNII's rule; Kipf & Welling stop at 200 epochs on a 10-epoch window).
CORA_RULE = dict(epochs=1000, patience=100, select="val_loss")


@dataclass(frozen=True)
class Recipe:
    """A model for a citation graph and its optimizer settings.

    Attributes:
        name (str): the model's name (tables call it ``"<L>-layer <name>"``, see
            :meth:`title`).
        make (callable): ``(in_channels, out_channels, **settings) -> nn.Module``.
        settings (dict): the model's settings, passed to ``make``.
        lr (float): Adam's learning rate.
        weight_decay (dict[str, float]): weight decay per parameter-name prefix (see
            :func:`~revgnn_edu.node_classification.weight_decay_groups`).
    """

    name: str
    make: Callable[..., nn.Module]
    settings: dict = field(default_factory=dict)
    lr: float = 0.01
    weight_decay: dict = field(default_factory=dict)

    def build(self, in_channels: int, out_channels: int, **overrides) -> nn.Module:
        """A fresh model (``overrides`` replace settings, e.g. ``memory_efficient``)."""
        return self.make(in_channels, out_channels, **{**self.settings, **overrides})

    def title(self, **overrides) -> str:
        """``"32-layer RevGCNII"``: the depth (after ``overrides``) and the name."""
        depth = {**self.settings, **overrides}["num_layers"]
        return f"{depth}-layer {self.name}"

    @property
    def fit_kwargs(self) -> dict:
        """``lr`` and ``weight_decay``, as
        :func:`~revgnn_edu.node_classification.fit_node_classifier` takes them."""
        return dict(lr=self.lr, weight_decay=dict(self.weight_decay))


def _gcn(in_channels: int, out_channels: int, hidden_channels: int, num_layers: int, dropout):
    return PlainGNN(in_channels, hidden_channels, out_channels, num_layers, dropout=dropout)


def _rev_gcnii(
    in_channels: int, out_channels: int, hidden_channels: int, num_layers: int, **settings
):
    return RevGCNII(in_channels, hidden_channels, out_channels, num_layers, **settings)


#: The two models of the comparison by key.
CORA_RECIPES: dict[str, Recipe] = {
    # Kipf & Welling (ICLR 2017): 16 hidden channels, dropout 0.5 on the input and the
    # hidden layer, Adam lr 0.01, weight decay 5e-4 on the first layer only
    "gcn": Recipe(
        "GCN",
        _gcn,
        dict(hidden_channels=16, num_layers=2, dropout=0.5),
        lr=0.01,
        weight_decay={"convs.0.": 5e-4, "": 0.0},
    ),
    # chosen on the validation nodes of the public split (5 seeds per candidate); the
    # weight decays split as in GCNII: 0.01 on the blocks, 5e-3 on the encoder and head
    "rev-gcnii": Recipe(
        "RevGCNII",
        _rev_gcnii,
        dict(
            hidden_channels=64,
            num_layers=32,
            num_groups=2,
            alpha=0.2,
            theta=0.5,
            dropout=0.6,
            input_dropout=0.8,
        ),
        lr=0.01,
        weight_decay={"layers.": 0.01, "": 5e-3},
    ),
}


def get_recipe(key: str) -> Recipe:
    """The recipe called ``key`` (``"gcn"`` or ``"rev-gcnii"``)."""
    return CORA_RECIPES[one_of("recipe", key, tuple(CORA_RECIPES))]


def prepare_features(data):
    """A copy of ``data`` with Kipf & Welling's and GCNII's input: each node's features
    divided by their sum (PyG's ``NormalizeFeatures``), stored as a sparse COO matrix
    (a bag of words is about 1% non-zero, so the input dropout and the first layer then
    touch only the stored entries; the models give the dense input's result)."""
    from torch_geometric.transforms import NormalizeFeatures

    data = NormalizeFeatures()(data.clone())
    data.x = data.x.to_sparse()
    return data
