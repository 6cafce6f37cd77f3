"""The paper's pre-activation GNN block and the residual block built on it."""
from __future__ import annotations

import inspect
from typing import Callable, Union

import torch
from torch import Tensor, nn
from torch_geometric.nn import GCNConv, GENConv, SAGEConv

__all__ = ["make_conv", "GNNBlock", "ResBlock", "check_channels", "check_features"]

ConvSpec = Union[str, Callable[..., nn.Module]]


def make_conv(conv: ConvSpec, in_channels: int, out_channels: int,
              edge_dim: int | None = None, aggr: str = "max") -> nn.Module:
    """Build the graph convolution inside a block.

    Args:
        conv (str or callable): ``"gen"`` for the paper's GENConv (message
            :math:`\\mathrm{ReLU}(x_j + e_{ij}) + \\epsilon`, output MLP with channels
            ``[g, 2g, g]`` and LayerNorm), ``"gcn"``, ``"sage"``, or a callable
            ``(in_channels, out_channels) -> MessagePassing`` for any other PyG conv.
        in_channels (int): input size.
        out_channels (int): output size.
        edge_dim (int, optional): edge feature size (GENConv only). (default: :obj:`None`)
        aggr (str, optional): GENConv aggregation, ``"max"`` or ``"softmax"``.
    """
    if callable(conv) and not isinstance(conv, str):
        return conv(in_channels, out_channels)
    if conv == "gen":
        if aggr not in ("max", "softmax", "mean", "add"):
            raise ValueError(f"aggr must be 'max', 'softmax', 'mean' or 'add', got {aggr!r}")
        extra = {"learn_t": True} if aggr == "softmax" else {}
        return GENConv(in_channels, out_channels, aggr=aggr, edge_dim=edge_dim, bias=True,
                       norm="layer", num_layers=2, expansion=2, **extra)
    if conv == "gcn":
        return GCNConv(in_channels, out_channels)
    if conv == "sage":
        return SAGEConv(in_channels, out_channels)
    raise ValueError(f"conv must be 'gen', 'gcn', 'sage' or a callable building a PyG "
                     f"conv, got {conv!r}")


def takes_edge_attr(conv: nn.Module) -> bool:
    """Whether a conv's forward accepts ``edge_attr``."""
    return "edge_attr" in inspect.signature(conv.forward).parameters


class GNNBlock(nn.Module):
    """The paper's pre-activation block :math:`f(X) = \\mathrm{conv}(\\mathrm{drop}(
    \\mathrm{ReLU}(\\mathrm{LN}(X))), A, U)`, without the skip connection.

    Residual and reversible models add the skip connection around it.

    Args:
        channels (int): input and output size :math:`D`.
        conv (str or callable, optional): see :func:`make_conv`. (default: ``"gen"``)
        edge_dim (int, optional): size of the edge features passed to ``conv``.
        dropout (float or nn.Module, optional): dropout probability, or a dropout
            module (e.g. a shared-mask dropout). (default: :obj:`0.0`)
        aggr (str, optional): GENConv aggregation. (default: ``"max"``)
        edge_encoder (nn.Linear, optional): the model's shared edge encoder, to fold
            into this block's edge projection; the block then takes raw edge features.
            (default: :obj:`None`)

    Shapes:
        - **input:** node features :math:`(N, D)`, edge_index :math:`(2, E)`,
          edge_attr :math:`(E, edge\\_dim)` (optional)
        - **output:** :math:`(N, D)`
    """

    def __init__(self, channels: int, conv: ConvSpec = "gen", edge_dim: int | None = None,
                 dropout: float | nn.Module = 0.0, aggr: str = "max",
                 edge_encoder: nn.Linear | None = None):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.dropout = dropout if isinstance(dropout, nn.Module) else nn.Dropout(dropout)
        # GENConv's own edge projection (edge_dim -> channels) lives here, outside the
        # conv, so that it can be folded with a shared edge encoder (see below).
        self.edge_proj = None
        if conv == "gen" and edge_dim is not None and edge_dim != channels:
            self.edge_proj = nn.Linear(edge_dim, channels)
            edge_dim = channels
        self.conv = make_conv(conv, channels, channels, edge_dim=edge_dim, aggr=aggr)
        self._edge_attr = takes_edge_attr(self.conv)
        if edge_encoder is not None and self.edge_proj is None:
            raise ValueError("edge_encoder folding needs a GENConv block whose edge_dim "
                             f"differs from its channels ({channels})")
        # Folding: U W_e^T + b_e followed by W_p^T + b_p is one linear map of the raw
        # edge features, W_p W_e and W_p b_e + b_p: same parameters, same function, but
        # each block reads E x F_e numbers instead of E x D. (The shared encoder is
        # registered here too; model.parameters() lists it once.)
        self.edge_encoder = edge_encoder

    def _edges(self, edge_attr: Tensor) -> Tensor:
        if self.edge_encoder is not None:  # folded: (W_p W_e) u + (W_p b_e + b_p)
            w_p, w_e = self.edge_proj.weight, self.edge_encoder.weight
            bias = self.edge_proj.bias + w_p @ self.edge_encoder.bias
            return torch.nn.functional.linear(edge_attr, w_p @ w_e, bias)
        return self.edge_proj(edge_attr)  # W_p u' + b_p, u' already encoded

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        h = self.dropout(self.norm(x).relu())  # pre-activation: LN -> ReLU -> dropout
        if self._edge_attr and edge_attr is not None:
            if self.edge_proj is not None:
                edge_attr = self._edges(edge_attr)  # U -> E x channels
            return self.conv(h, edge_index, edge_attr)  # message passing with edges U
        return self.conv(h, edge_index)


class ResBlock(nn.Module):
    """A residual block :math:`X' = X + f(X, A, U)` with :class:`GNNBlock` as :math:`f`.

    Takes the same arguments as :class:`GNNBlock`.
    """

    def __init__(self, channels: int, conv: ConvSpec = "gen", edge_dim: int | None = None,
                 dropout: float | nn.Module = 0.0, aggr: str = "max"):
        super().__init__()
        self.block = GNNBlock(channels, conv, edge_dim=edge_dim, dropout=dropout, aggr=aggr)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        return x + self.block(x, edge_index, edge_attr)  # X' = X + f(X)


def check_channels(name: str, value) -> int:
    """Validate a channel/layer count: a positive integer, else a ValueError naming it."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_features(x: Tensor, channels: int, what: str = "x") -> None:
    """Raise a clear error when node features have the wrong width."""
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.size(1) != channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{what} must have shape (num_nodes, {channels}), got {shape}")
