"""The equilibrium map of DEQ-GNN: one graph block applied until it stops changing.

A deep equilibrium GNN replaces :math:`L` weight-tied layers by the fixed point
:math:`Z^\\star = f_\\theta(Z^\\star, \\tilde X, A, U)` of one block. The block must be
the same function every time the solver calls it, so its dropout mask is drawn once per
forward pass (:class:`~revgnn_edu.nn.dropout.SharedDropout`), and it must be close to a
contraction for the solver to converge: its output is layer-normalized, as in the
multiscale DEQ blocks of Bai et al. (2020), with graph convolutions in place of image
convolutions.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..checks import positive_int
from .blocks import (
    ConvSpec,
    check_edge_attr,
    check_edge_index,
    make_conv,
    reset_parameters_of,
    takes_edge_attr,
)
from .dropout import SharedDropout

__all__ = ["DEQGraphBlock"]


class DEQGraphBlock(nn.Module):
    r"""The DEQ-GNN block :math:`f_\theta`: two graph convolutions with input injection,
    normalization and a residual connection.

    .. math::
        \hat Z &= \mathrm{drop}_M\big(\mathrm{ReLU}(\mathrm{LN}_1(
            \mathrm{conv}_1(Z, A, U) + \tilde X))\big)

        f_\theta(Z, \tilde X, A, U) &= \mathrm{LN}_2\big(Z +
            \mathrm{conv}_2(\hat Z, A, U)\big)

    :math:`\tilde X` is the input injection (the encoded node features) and :math:`M`
    one dropout mask, drawn by ``block.dropout.resample(x)`` once per forward pass and
    reused by every evaluation of :math:`f_\theta` (solver iterations, the final
    differentiable step and the adjoint solve). The last LayerNorm keeps the iterates
    bounded, which helps the fixed-point solvers converge.

    Args:
        channels (int): width :math:`D` of :math:`Z` and :math:`\tilde X`.
        conv (str or callable, optional): both graph convolutions, see
            :func:`~revgnn_edu.nn.make_conv`. (default: ``"gen"``)
        edge_dim (int, optional): size of the edge features :math:`U` passed to the
            convolutions; :obj:`None` for convs without edge features.
            (default: :obj:`None`)
        dropout (float, optional): shared dropout probability. (default: :obj:`0.0`)
        aggr (str, optional): GENConv aggregation. (default: ``"max"``)

    Shapes:
        - **input:** state :math:`Z` :math:`(N, D)`, injection :math:`\tilde X`
          :math:`(N, D)`, edge_index :math:`(2, E)`, edge_attr :math:`(E, edge\_dim)`
          (optional)
        - **output:** :math:`(N, D)`
    """

    def __init__(
        self,
        channels: int,
        conv: ConvSpec = "gen",
        edge_dim: int | None = None,
        dropout: float = 0.0,
        aggr: str = "max",
    ):
        super().__init__()
        self.channels = positive_int("channels", channels)
        self.edge_dim = None if edge_dim is None else positive_int("edge_dim", edge_dim)
        self.conv1 = make_conv(conv, channels, channels, edge_dim=edge_dim, aggr=aggr)
        self.conv2 = make_conv(conv, channels, channels, edge_dim=edge_dim, aggr=aggr)
        self.norm1 = nn.LayerNorm(channels)
        self.norm2 = nn.LayerNorm(channels)
        self.dropout = SharedDropout(dropout)
        if edge_dim is not None and not takes_edge_attr(self.conv1):
            raise ValueError(
                f"conv {type(self.conv1).__name__} takes no edge features, "
                f"but edge_dim={edge_dim} was given; use edge_dim=None"
            )

    def reset_parameters(self) -> None:
        reset_parameters_of(self)

    @staticmethod
    def _conv(conv: nn.Module, z: Tensor, edge_index: Tensor, edge_attr: Tensor | None) -> Tensor:
        if edge_attr is not None:
            return conv(z, edge_index, edge_attr)
        return conv(z, edge_index)

    def forward(
        self, z: Tensor, x_inj: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None
    ) -> Tensor:
        if z.shape != x_inj.shape or z.size(-1) != self.channels:
            raise ValueError(
                f"z and x_inj must both have shape (num_nodes, "
                f"{self.channels}), got {tuple(z.shape)} and "
                f"{tuple(x_inj.shape)}"
            )
        check_edge_index(edge_index, type(self).__name__)  # a long index (or an adjacency)
        check_edge_attr(edge_attr, edge_index, self.edge_dim, type(self).__name__)
        # Z^ = drop_M(ReLU(LN_1(conv_1(Z, A, U) + X~))): input injection
        h = self.norm1(self._conv(self.conv1, z, edge_index, edge_attr) + x_inj)
        h = self.dropout(h.relu())
        # f(Z) = LN_2(Z + conv_2(Z^, A, U)): residual, then normalize
        return self.norm2(z + self._conv(self.conv2, h, edge_index, edge_attr))

    def extra_repr(self) -> str:
        return f"{self.channels}"
