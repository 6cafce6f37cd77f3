"""What every deep GNN in the course shares: encoders in, a deep body, a head out."""
from __future__ import annotations

from torch import Tensor, nn

from ..nn.blocks import check_channels, check_features

__all__ = ["DeepGNN"]


class DeepGNN(nn.Module):
    """Encoder -> deep body -> head; subclasses define the body in :meth:`body`.

    .. math::
        H^{(0)} = X W_{in}, \\quad U' = U W_{e}, \\quad
        H^{(L)} = \\mathrm{body}(H^{(0)}, A, U'), \\quad
        Y = \\mathrm{Lin}(\\mathrm{drop}(\\mathrm{ReLU}(\\mathrm{LN}(H^{(L)}))))

    Args:
        in_channels (int): node input size.
        hidden_channels (int): width :math:`D` of the body.
        out_channels (int): output size (classes or tasks).
        num_layers (int): depth :math:`L` of the body.
        edge_dim (int, optional): edge feature size; edge features are encoded to
            ``edge_channels`` once and shared by all layers. (default: :obj:`None`)
        dropout (float, optional): dropout probability. (default: :obj:`0.0`)
        edge_channels (int, optional): size of encoded edge features (default: ``D``).

    Shapes:
        - **input:** x :math:`(N, F_{in})`, edge_index :math:`(2, E)`,
          edge_attr :math:`(E, edge\\_dim)` (optional)
        - **output:** :math:`(N, F_{out})`
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int,
                 num_layers: int, *, edge_dim: int | None = None, dropout: float = 0.0,
                 edge_channels: int | None = None):
        super().__init__()
        self.in_channels = check_channels("in_channels", in_channels)
        self.hidden_channels = check_channels("hidden_channels", hidden_channels)
        self.out_channels = check_channels("out_channels", out_channels)
        self.num_layers = check_channels("num_layers", num_layers)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.edge_dim = edge_dim
        self.dropout = dropout
        self.node_encoder = nn.Linear(in_channels, hidden_channels)
        self.edge_encoder = None
        if edge_dim is not None:
            check_channels("edge_dim", edge_dim)
            self.edge_encoder = nn.Linear(edge_dim, edge_channels or hidden_channels)
        # set by models whose blocks fold the edge encoder into their own projection
        self.fold_edge_encoder = False
        self.head_norm = nn.LayerNorm(hidden_channels)
        self.head_dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_channels, out_channels)

    def body(self, h: Tensor, edge_index: Tensor, edge_attr: Tensor | None) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        check_features(x, self.in_channels)
        if self.edge_encoder is not None:
            if edge_attr is None:
                raise ValueError(f"{type(self).__name__} was built with edge_dim="
                                 f"{self.edge_dim} but edge_attr is None")
            if not self.fold_edge_encoder:
                edge_attr = self.edge_encoder(edge_attr)  # U' = U W_e, shared by all layers
        h = self.node_encoder(x)  # H^(0) = X W_in
        h = self.body(h, edge_index, edge_attr)  # H^(L)
        h = self.head_dropout(self.head_norm(h).relu())
        return self.head(h)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.hidden_channels}, {self.out_channels}, "
                f"num_layers={self.num_layers}")
