"""The paper's pre-activation GNN block and the residual block built on it."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch_geometric.nn import GCNConv, GENConv, SAGEConv

from ..checks import check_edge_attr, check_edge_index, check_features, positive_int
from .difference import DifferenceConv

__all__ = [
    "make_conv",
    "GNNBlock",
    "ResBlock",
    "check_features",
    "check_edge_attr",
    "check_edge_index",
    "reset_parameters_of",
]

ConvSpec = str | Callable[..., nn.Module]


def make_conv(
    conv: ConvSpec,
    in_channels: int,
    out_channels: int,
    edge_dim: int | None = None,
    aggr: str = "max",
) -> nn.Module:
    """Build the graph convolution inside a block.

    Args:
        conv (str or callable): ``"gen"`` for the paper's GENConv (message
            :math:`\\mathrm{ReLU}(x_j + e_{ij}) + \\epsilon`, output MLP with channels
            ``[g, 2g, g]`` and LayerNorm), ``"gcn"``, ``"sage"``, ``"diff"`` (a
            :class:`~revgnn_edu.nn.difference.DifferenceConv`, initialised as a one-hop
            transfer), or a callable ``(in_channels, out_channels) -> MessagePassing``
            for any other PyG conv.
        in_channels (int): input size.
        out_channels (int): output size.
        edge_dim (int, optional): edge feature size (GENConv only). (default: :obj:`None`)
        aggr (str, optional): GENConv's aggregation: ``"max"``, ``"softmax"`` (with a
            learnable temperature), ``"mean"`` or ``"add"``; the other convs ignore it.
            (default: ``"max"``)
    """
    if callable(conv) and not isinstance(conv, str):
        return conv(in_channels, out_channels)
    if conv == "gen":
        if aggr not in ("max", "softmax", "mean", "add"):
            raise ValueError(f"aggr must be 'max', 'softmax', 'mean' or 'add', got {aggr!r}")
        extra = {"learn_t": True} if aggr == "softmax" else {}
        return GENConv(
            in_channels,
            out_channels,
            aggr=aggr,
            edge_dim=edge_dim,
            bias=True,
            norm="layer",
            num_layers=2,
            expansion=2,
            **extra,
        )
    if conv == "gcn":
        return GCNConv(in_channels, out_channels)
    if conv == "sage":
        return SAGEConv(in_channels, out_channels)
    if conv == "diff":
        return DifferenceConv(in_channels, out_channels)
    raise ValueError(
        f"conv must be 'gen', 'gcn', 'sage', 'diff' or a callable building a PyG conv, got {conv!r}"
    )


def takes_edge_attr(conv: nn.Module) -> bool:
    """Whether a conv's forward accepts ``edge_attr``."""
    return "edge_attr" in inspect.signature(conv.forward).parameters


def reset_parameters_of(module: nn.Module) -> None:
    """Re-initialize every parameter of ``module``'s children: call each child's
    ``reset_parameters()``, or descend into children that have none (containers)."""
    for child in module.children():
        if hasattr(child, "reset_parameters"):
            child.reset_parameters()
        else:
            reset_parameters_of(child)


def _drop_encoder_copies(state_dict, prefix, *args) -> None:
    """A state-dict pre-hook: drop entries ``<block>.edge_encoder.*``, copies of the
    model's shared edge encoder stored under a block, so that such a state dict loads
    (the block uses the model's encoder and registers no copy of its own)."""
    for key in [k for k in state_dict if k.startswith(prefix + "edge_encoder.")]:
        del state_dict[key]


class GNNBlock(nn.Module):
    """The paper's pre-activation block :math:`f(X) = \\mathrm{conv}(\\mathrm{drop}(
    \\mathrm{ReLU}(\\mathrm{LN}(X))), A, U)`, without the skip connection.

    Residual and reversible models add the skip connection around it.

    Args:
        channels (int): input and output size :math:`D`.
        conv (str or callable, optional): see :func:`make_conv`. (default: ``"gen"``)
        edge_dim (int, optional): size of the edge features passed to ``conv``; a conv
            that takes no edge features (``"gcn"``, ``"sage"``) needs :obj:`None`.
            (default: :obj:`None`)
        dropout (float or nn.Module, optional): dropout probability, or a dropout
            module (e.g. a shared-mask dropout). (default: :obj:`0.0`)
        aggr (str, optional): GENConv aggregation. (default: ``"max"``)
        edge_encoder (nn.Linear, optional): the model's shared edge encoder
            (:math:`F_e \\to` ``edge_dim``), to fold into this block's edge projection;
            the block then takes the raw :math:`F_e`-wide edge features. The block uses
            the encoder but does not own it (the model does, so its state dict lists it
            once); :meth:`shared_parameters` returns its parameters.
            (default: :obj:`None`)

    Shapes:
        - **input:** node features :math:`(N, D)`, edge_index :math:`(2, E)`,
          edge_attr :math:`(E, edge\\_dim)` (or :math:`(E, F_e)` when folded; only
          when built with ``edge_dim``)
        - **output:** :math:`(N, D)`
    """

    def __init__(
        self,
        channels: int,
        conv: ConvSpec = "gen",
        edge_dim: int | None = None,
        dropout: float | nn.Module = 0.0,
        aggr: str = "max",
        edge_encoder: nn.Linear | None = None,
    ):
        super().__init__()
        self.channels = positive_int("channels", channels)
        if edge_dim is not None:
            positive_int("edge_dim", edge_dim)
        self.norm = nn.LayerNorm(channels)
        self.dropout = dropout if isinstance(dropout, nn.Module) else nn.Dropout(dropout)
        # GENConv's own edge projection (edge_dim -> channels) lives here, outside the
        # conv, so that it can be folded with a shared edge encoder (see below).
        self.edge_proj = None
        conv_edge_dim = edge_dim
        if conv == "gen" and edge_dim is not None and edge_dim != channels:
            self.edge_proj = nn.Linear(edge_dim, channels)
            conv_edge_dim = channels
        self.conv = make_conv(conv, channels, channels, edge_dim=conv_edge_dim, aggr=aggr)
        self._edge_attr = takes_edge_attr(self.conv)
        if edge_dim is not None and not self._edge_attr:
            raise ValueError(
                f"conv {type(self.conv).__name__} takes no edge features, but "
                f"edge_dim={edge_dim} was given; build the block with "
                f"edge_dim=None"
            )
        if edge_encoder is not None and (
            self.edge_proj is None or edge_encoder.out_features != edge_dim
        ):
            raise ValueError(
                "edge_encoder folding needs a GENConv block whose edge_dim "
                f"(the encoder's output size) differs from its channels "
                f"({channels})"
            )
        # Folding: U W_e^T + b_e followed by W_p^T + b_p is one linear map of the raw
        # edge features, W_p W_e and W_p b_e + b_p: same parameters, same function, but
        # each block reads E x F_e numbers instead of E x D. The encoder is held in a
        # tuple, not registered: the model registers it once.
        self._folded = (edge_encoder,) if edge_encoder is not None else ()
        #: width of the edge features this block reads (raw F_e when folded)
        self.edge_dim = edge_encoder.in_features if edge_encoder is not None else edge_dim
        self._register_load_state_dict_pre_hook(_drop_encoder_copies)

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters the block uses but does not own: the folded edge encoder's."""
        return [p for encoder in self._folded for p in encoder.parameters()]

    def reset_parameters(self) -> None:
        """Re-initialize the block's own parameters (not a folded shared encoder)."""
        reset_parameters_of(self)

    def _edges(self, edge_attr: Tensor) -> Tensor:
        if self._folded:  # folded: (W_p W_e) u + (W_p b_e + b_p)
            (encoder,) = self._folded
            w_p, w_e = self.edge_proj.weight, encoder.weight
            bias = self.edge_proj.bias + w_p @ encoder.bias
            return torch.nn.functional.linear(edge_attr, w_p @ w_e, bias)
        return self.edge_proj(edge_attr)  # W_p u' + b_p, u' already encoded

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        check_edge_attr(edge_attr, edge_index, self.edge_dim, type(self).__name__)
        h = self.dropout(self.norm(x).relu())  # pre-activation: LN -> ReLU -> dropout
        if edge_attr is None:
            return self.conv(h, edge_index)
        if self.edge_proj is not None:
            edge_attr = self._edges(edge_attr)  # U -> E x channels
        return self.conv(h, edge_index, edge_attr)  # message passing with edges U


class ResBlock(nn.Module):
    """A residual block :math:`X' = X + f(X, A, U)` with :class:`GNNBlock` as :math:`f`.

    Takes the same arguments as :class:`GNNBlock`.
    """

    def __init__(
        self,
        channels: int,
        conv: ConvSpec = "gen",
        edge_dim: int | None = None,
        dropout: float | nn.Module = 0.0,
        aggr: str = "max",
    ):
        super().__init__()
        self.block = GNNBlock(channels, conv, edge_dim=edge_dim, dropout=dropout, aggr=aggr)

    def reset_parameters(self) -> None:
        self.block.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        return x + self.block(x, edge_index, edge_attr)  # X' = X + f(X)
