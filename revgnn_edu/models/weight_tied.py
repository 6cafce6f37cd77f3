"""Weight-tied deep GNNs: one block's weights applied at every layer.

Tying the weights makes the parameter count independent of depth, :math:`O(D^2)`
instead of :math:`O(LD^2)`. It does nothing for activation memory: a weight-tied
residual GNN still keeps every layer's activations, :math:`O(LND)`; a weight-tied
reversible GNN keeps none of them, :math:`O(ND)`.
"""
from __future__ import annotations

from ..nn.blocks import ResBlock
from ..nn.reversible import GroupReversible
from .resgnn import ResGNN
from .revgnn import RevGNN

__all__ = ["WTResGNN", "WTRevGNN"]


class WTResGNN(ResGNN):
    r"""A weight-tied residual GNN: one pre-activation residual block, with one set of
    weights :math:`\theta`, applied :math:`L` times.

    .. math::
        H^{(l+1)} = H^{(l)} + f_\theta(H^{(l)}, A, U), \qquad l = 0, \ldots, L - 1

    Parameters: :math:`O(D^2)`, whatever :math:`L`. Activation memory: :math:`O(LND)`,
    as for :class:`~revgnn_edu.models.ResGNN`: each application keeps its own
    activations for backward.

    Args:
        in_channels, hidden_channels, out_channels, num_layers, edge_dim, dropout:
            see :class:`~revgnn_edu.models.base.DeepGNN`.
        conv (str or callable, optional): the inner conv, see
            :func:`~revgnn_edu.nn.make_conv`. (default: ``"gen"``)
        aggr (str, optional): GENConv aggregation. (default: ``"max"``)

    Shapes:
        - **input:** x :math:`(N, F_{in})`, edge_index :math:`(2, E)`,
          edge_attr :math:`(E, edge\_dim)` (optional)
        - **output:** :math:`(N, F_{out})`
    """

    tied = True

    @property
    def block(self) -> ResBlock:
        r"""The one residual block, :math:`f_\theta`, applied at every layer."""
        return self.layers[0]


class WTRevGNN(RevGNN):
    r"""A weight-tied reversible GNN: one grouped reversible layer, with one set of
    weights :math:`\theta = (\theta_1, \ldots, \theta_C)`, applied :math:`L` times.

    .. math::
        H^{(l+1)} = \mathrm{GroupReversible}_\theta(H^{(l)}, A, U), \qquad
        f_{\theta_i}(X) = \mathrm{conv}(\mathrm{drop}_M(\mathrm{ReLU}(\mathrm{LN}(X))),
        A, U)

    As in :class:`~revgnn_edu.models.revgnn.RevGNN`, one dropout mask :math:`M`
    (:math:`N \times D`, group :math:`i` uses its :math:`i`-th column block) is drawn
    per forward pass. Parameters: :math:`O(D^2)`; activation memory: :math:`O(ND)`,
    whatever :math:`L`.

    Args:
        in_channels (int): node input size.
        hidden_channels (int): width :math:`D`, divisible by ``num_groups``.
        out_channels (int): output size.
        num_layers (int): number of applications :math:`L` of the tied layer.
        num_groups (int, optional): number of groups :math:`C \ge 2`. (default: :obj:`2`)
        edge_dim (int, optional): edge feature size. (default: :obj:`None`)
        dropout (float, optional): shared dropout probability. (default: :obj:`0.0`)
        memory_efficient (bool, optional): if :obj:`False`, train with ordinary
            autograd (memory grows with depth; a reference for tests).
            (default: :obj:`True`)
        conv (str or callable, optional): the inner conv. (default: ``"gen"``)
        aggr (str, optional): GENConv aggregation. (default: ``"max"``)
        fold_edge_encoder (bool, optional): fold the shared edge encoder into each
            block's edge projection, as in
            :class:`~revgnn_edu.models.revgnn.RevGNN`. (default: :obj:`False`)

    Shapes:
        - **input:** x :math:`(N, F_{in})`, edge_index :math:`(2, E)`,
          edge_attr :math:`(E, edge\_dim)` (optional)
        - **output:** :math:`(N, F_{out})`
    """

    tied = True

    @property
    def layer(self) -> GroupReversible:
        r"""The one reversible layer, with weights :math:`\theta`, applied L times."""
        return self.layers[0]
