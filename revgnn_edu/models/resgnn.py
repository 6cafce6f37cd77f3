"""Plain and residual deep GNNs: the baselines whose memory grows with depth."""

from __future__ import annotations

from torch import Tensor, nn

from ..checks import check_edge_attr, probability
from ..nn.blocks import ConvSpec, ResBlock, make_conv
from .base import DeepGNN, GNNBase

__all__ = ["PlainGNN", "ResGNN"]


class ResGNN(DeepGNN):
    """A deep residual GNN (DeeperGCN's res+): :math:`H^{(l+1)} = H^{(l)} +
    f_l(H^{(l)}, A, U)` with the pre-activation block :math:`f_l`
    (LayerNorm -> ReLU -> dropout -> conv). Training keeps every layer's activations,
    so memory grows as :math:`O(L N D)`.

    Args:
        in_channels, hidden_channels, out_channels, num_layers: see
            :class:`~revgnn_edu.models.base.GNNBase`.
        conv (str or callable, optional): the inner conv, see
            :func:`~revgnn_edu.nn.make_conv`. (default: ``"gen"``)
        aggr (str, optional): GENConv's aggregation, see
            :func:`~revgnn_edu.nn.make_conv`. (default: ``"max"``)
        **kwargs: ``edge_dim``, ``dropout``, ``node_encoder``, see
            :class:`~revgnn_edu.models.base.DeepGNN`.

    Shapes: as :class:`~revgnn_edu.models.base.DeepGNN`.
    """

    family = "ResGNN"
    complexity = ("O(LND)", "O(LD^2)")

    def __init__(self, *args, conv: ConvSpec = "gen", aggr: str = "max", **kwargs):
        super().__init__(*args, **kwargs)
        self.build_layers(conv=conv, aggr=aggr)

    def make_layer(self, l: int, conv: ConvSpec, aggr: str) -> ResBlock:
        # H + f_l(H), f_l = conv(drop(ReLU(LN(H))))
        return ResBlock(
            self.hidden_channels, conv, self.layer_edge_dim, dropout=self.dropout, aggr=aggr
        )


class PlainGNN(GNNBase):
    """A plain stack :math:`H^{(l+1)} = \\mathrm{ReLU}(\\mathrm{conv}_l(H^{(l)}, A))`
    without skip connections, encoders or head (Kipf & Welling's GCN when
    ``num_layers=2``).

    Deep plain stacks over-smooth and become hard to train; notebook 01 shows it.

    Args:
        in_channels, hidden_channels, out_channels: see
            :class:`~revgnn_edu.models.base.GNNBase`.
        num_layers (int): number of convolutions.
        dropout (float, optional): dropout before each conv. (default: :obj:`0.0`)
        conv (str or callable, optional): see :func:`~revgnn_edu.nn.make_conv`; the
            stack takes no edge features, so the default is the GCN of Kipf & Welling.
            (default: ``"gcn"``)

    Shapes:
        - **input:** x :math:`(N, F_{in})`, edge_index :math:`(2, E)` (no edge features)
        - **output:** :math:`(N, F_{out})`
    """

    def __init__(self, *args, dropout: float = 0.0, conv: ConvSpec = "gcn", **kwargs):
        super().__init__(*args, **kwargs)  # the four sizes
        L = self.num_layers
        widths = [self.in_channels] + [self.hidden_channels] * (L - 1) + [self.out_channels]
        self.convs = nn.ModuleList(make_conv(conv, i, o) for i, o in zip(widths, widths[1:]))
        self.dropout = nn.Dropout(probability("dropout", dropout))

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        check_edge_attr(edge_attr, edge_index, None, type(self).__name__)
        for i, conv in enumerate(self.convs):
            x = conv(self.dropout(x), edge_index)  # H' = conv(drop(H), A)
            if i < len(self.convs) - 1:
                x = x.relu()
        return x
