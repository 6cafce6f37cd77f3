"""What every deep GNN in the course shares: encoders in, a deep body, a head out."""

from __future__ import annotations

from torch import Tensor, nn

from ..checks import positive_int, probability
from ..nn.blocks import check_edge_attr, check_edge_index, check_features, reset_parameters_of

__all__ = ["DeepGNN"]


class DeepGNN(nn.Module):
    """Encoder -> deep body -> head. Subclasses build the body's layers with the
    :meth:`make_layer` hook (or override :meth:`body`).

    .. math::
        H^{(0)} = X W_{in}, \\quad U' = U W_{e}, \\quad
        H^{(L)} = \\mathrm{body}(H^{(0)}, A, U'), \\quad
        Y = \\mathrm{Lin}(\\mathrm{drop}(\\mathrm{ReLU}(\\mathrm{LN}(H^{(L)}))))

    Every model of the course has this constructor: the four sizes positional,
    everything after ``num_layers`` keyword-only (as PyG's ``BasicGNN``).

    Args:
        in_channels (int): node input size.
        hidden_channels (int): width :math:`D` of the body.
        out_channels (int): output size (classes or tasks).
        num_layers (int): depth :math:`L` of the body.
        edge_dim (int, optional): edge feature size; edge features are encoded to
            ``edge_channels`` once and shared by all layers. Without it the model
            takes no edge features. (default: :obj:`None`)
        dropout (float, optional): dropout probability. (default: :obj:`0.0`)
        edge_channels (int, optional): size of encoded edge features (default: ``D``).

    Attributes:
        family (str): the model family's name in the paper's Table 1 (``"RevGNN"``).
        complexity (tuple[str, str]): its (activation memory, parameters) in big-O form.

    Shapes:
        - **input:** x :math:`(N, F_{in})`, edge_index :math:`(2, E)`,
          edge_attr :math:`(E, edge\\_dim)` (exactly when built with ``edge_dim``)
        - **output:** :math:`(N, F_{out})`
    """

    family: str = ""
    complexity: tuple[str, str] = ("", "")

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int,
        *,
        edge_dim: int | None = None,
        dropout: float = 0.0,
        edge_channels: int | None = None,
    ):
        super().__init__()
        self.in_channels = positive_int("in_channels", in_channels)
        self.hidden_channels = positive_int("hidden_channels", hidden_channels)
        self.out_channels = positive_int("out_channels", out_channels)
        self.num_layers = positive_int("num_layers", num_layers)
        self.dropout = probability("dropout", dropout)
        self.edge_dim = None if edge_dim is None else positive_int("edge_dim", edge_dim)
        self.node_encoder = nn.Linear(in_channels, hidden_channels)
        self.edge_encoder = None
        if edge_dim is not None:
            self.edge_encoder = nn.Linear(edge_dim, edge_channels or hidden_channels)
        # set by models whose blocks fold the edge encoder into their own projection
        self.fold_edge_encoder = False
        self.head_norm = nn.LayerNorm(hidden_channels)
        self.head_dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_channels, out_channels)
        self.layers = nn.ModuleList()  # filled by build_layers() from make_layer(l)
        self.layer_order: list[int] = []  # layer l of the body is layers[layer_order[l]]

    # -- the body ----------------------------------------------------------------------
    def make_layer(self, l: int) -> nn.Module:
        """The hook that defines a model: return the body's layer :math:`l`
        (``0 <= l < num_layers``). Returning a module already returned for an earlier
        layer applies the same weights again (weight tying)."""
        raise NotImplementedError(f"{type(self).__name__} must define make_layer(l)")

    def build_layers(self) -> None:
        """Call :meth:`make_layer` for every layer; a module returned for several
        layers is registered once and applied at each of them."""
        index: dict[int, int] = {}
        for l in range(self.num_layers):
            layer = self.make_layer(l)
            if id(layer) not in index:
                index[id(layer)] = len(self.layers)
                self.layers.append(layer)
            self.layer_order.append(index[id(layer)])

    def body(self, h: Tensor, edge_index: Tensor, edge_attr: Tensor | None) -> Tensor:
        for i in self.layer_order:
            h = self.layers[i](h, edge_index, edge_attr)  # H^(l+1) = layer_l(H^(l), A, U)
        return h

    def reset_parameters(self) -> None:
        """Re-initialize every parameter (encoders, body, head)."""
        reset_parameters_of(self)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        check_features(x, self.in_channels)
        edge_index = check_edge_index(edge_index, type(self).__name__, convert=True)  # int64
        check_edge_attr(edge_attr, edge_index, self.edge_dim, type(self).__name__)
        if self.edge_encoder is not None and not self.fold_edge_encoder:
            edge_attr = self.edge_encoder(edge_attr)  # U' = U W_e, shared by all layers
        h = self.node_encoder(x)  # H^(0) = X W_in
        h = self.body(h, edge_index, edge_attr)  # H^(L)
        h = self.head_dropout(self.head_norm(h).relu())
        return self.head(h)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.hidden_channels}, {self.out_channels}, "
            f"num_layers={self.num_layers}"
        )
