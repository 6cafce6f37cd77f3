"""RevGCNII: grouped reversible layers whose blocks are GCNII layers (initial residual
and identity mapping), a deep model that keeps the input signal on citation graphs."""

from __future__ import annotations

import math
from functools import partial

from torch import Tensor, nn
from torch_geometric.nn import Linear

from ..checks import group_width, positive_number, probability
from ..nn.dropout import uniform_dropout
from ..nn.initial_residual import GCNIIBlock, gcn_adjacency
from ..nn.reversible import GroupReversible
from .base import DeepGNN, ReversibleLayers

__all__ = ["GCNIIEncoder", "RevGCNII"]


class GCNIIEncoder(nn.Module):
    r"""GCNII's input layer, :math:`H^{(0)} = \mathrm{ReLU}(\mathrm{drop}(X) W + b)`, with
    :math:`W` Glorot-uniform and :math:`b = 0`.

    Args:
        in_channels (int): input size :math:`F_{in}`.
        out_channels (int): output size :math:`D`.
        dropout (float, optional): dropout probability on the input. (default: :obj:`0.0`)

    Shapes:
        - **input:** :math:`(N, F_{in})`
        - **output:** :math:`(N, D)`
    """

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = probability("dropout", dropout)
        self.lin = Linear(
            in_channels, out_channels, weight_initializer="glorot", bias_initializer="zeros"
        )

    def forward(self, x: Tensor) -> Tensor:  # H0 = ReLU(drop(X) W + b)
        return self.lin(uniform_dropout(x, self.dropout, self.training)).relu()

    def extra_repr(self) -> str:
        return f"dropout={self.dropout}"


class RevGCNII(ReversibleLayers, DeepGNN):
    r"""A reversible GCNII: :math:`L` grouped reversible layers
    (:class:`~revgnn_edu.nn.GroupReversible`, as in RevGNN) whose blocks are the layers of
    GCNII (`"Simple and Deep Graph Convolutional Networks"
    <https://arxiv.org/abs/2007.02133>`_, Chen et al., ICML 2020):

    .. math::
        H^{(0)} = \mathrm{ReLU}(\mathrm{drop}(X) W_{in} + b_{in}), \quad
        Z^{(0)} = 0, \quad
        Z^{(l)} = \mathrm{GroupReversible}_l(Z^{(l-1)}, \hat A, H^{(0)}), \quad
        Y = \mathrm{Lin}(\mathrm{drop}(Z^{(L)})),

    where block :math:`i` of layer :math:`l` is a :class:`~revgnn_edu.nn.GCNIIBlock`,
    :math:`f_{l,i}(X) = L^{-1/2}\,\mathrm{ReLU}(((1-\alpha)\hat A\,\mathrm{drop}(X) +
    \alpha H^{(0)}_i)((1-\beta_l) I + \beta_l W_{l,i}))`. The encoder output
    :math:`H^{(0)}` is not the stack's input but a fixed extra input of every block
    (GCNII's initial residual), so the stack starts from zero and every layer adds
    non-negative block outputs scaled by :math:`L^{-1/2}`; the head reads
    :math:`Z^{(L)}` without normalisation, as in GCNII. :math:`\hat A =
    \hat D^{-1/2}(A + I)\hat D^{-1/2}` is built once per forward pass
    (:func:`~revgnn_edu.nn.gcn_adjacency`) and shared by all layers. Training keeps
    :math:`O(ND)` activations whatever the depth; dropout in the blocks is drawn per
    block and replayed in the backward pass.

    Args:
        in_channels, hidden_channels, out_channels, num_layers, num_groups: as in
            :class:`~revgnn_edu.models.RevGNN` (:math:`L` reversible layers of width
            :math:`D` in :math:`C` groups; default :math:`C = 2`).
        alpha (float, optional): initial residual share :math:`\alpha`. (default: :obj:`0.1`)
        theta (float, optional): identity mapping's :math:`\theta` (GCNII's
            :math:`\lambda`). (default: :obj:`0.5`)
        input_dropout (float, optional): dropout on the input features; :obj:`None` means
            ``dropout``. (default: :obj:`None`)
        memory_efficient (bool, optional): if :obj:`False`, the same model trained with
            ordinary autograd (memory grows with depth). (default: :obj:`True`)
        **kwargs: ``dropout`` (in every block and before the head) and ``node_encoder``
            (default: :class:`GCNIIEncoder` with ``input_dropout``), see
            :class:`~revgnn_edu.models.base.DeepGNN`. Edge features are not supported.

    Shapes:
        - **input:** x :math:`(N, F_{in})`, edge_index :math:`(2, E)`
        - **output:** :math:`(N, F_{out})`
    """

    complexity = ("O(ND)", "O(LD^2)")

    def __init__(
        self,
        *args,
        num_groups: int = 2,
        alpha: float = 0.1,
        theta: float = 0.5,
        input_dropout: float | None = None,
        memory_efficient: bool = True,
        **kwargs,
    ):
        if kwargs.get("edge_dim") is not None:
            raise ValueError(
                f"RevGCNII takes no edge features (its blocks are GCNII layers), got "
                f"edge_dim={kwargs['edge_dim']!r}"
            )
        p_in = kwargs.get("dropout", 0.0) if input_dropout is None else input_dropout
        kwargs.setdefault(
            "node_encoder", partial(GCNIIEncoder, dropout=probability("input_dropout", p_in))
        )
        super().__init__(*args, **kwargs)
        self.group_width = group_width(self.hidden_channels, num_groups)
        self.num_groups = num_groups
        self.alpha = probability("alpha", alpha)
        self.theta = positive_number("theta", theta)
        self.head_norm = nn.Identity()  # as in GCNII: Y = Lin(drop(Z)), Z >= 0
        self.head = Linear(
            self.hidden_channels,
            self.out_channels,
            weight_initializer="glorot",
            bias_initializer="zeros",
        )
        self.build_layers(memory_efficient=bool(memory_efficient))

    def make_layer(self, l: int, memory_efficient: bool) -> GroupReversible:
        """Layer :math:`l`: :math:`C` GCNII blocks of width :math:`D/C`, block :math:`i`
        reading group :math:`i` of :math:`H^{(0)}`, its output scaled by
        :math:`L^{-1/2}`."""
        scale = 1.0 / math.sqrt(self.num_layers)
        blocks = [
            GCNIIBlock(
                self.group_width,
                l + 1,
                self.alpha,
                self.theta,
                group=i,
                dropout=self.dropout,
                scale=scale,
            )
            for i in range(self.num_groups)
        ]
        return GroupReversible(blocks, memory_efficient=memory_efficient)

    def body(self, h: Tensor, edge_index: Tensor, edge_attr: Tensor | None) -> Tensor:
        adj = gcn_adjacency(edge_index, h.size(0), dtype=h.dtype)  # A^, once per pass
        h0 = h  # H^(0), every block's extra input
        z = h.new_zeros(h.shape)  # Z^(0) = 0
        for i in self.layer_order:
            z = self.layers[i](z, adj, h0)  # Z^(l) = GroupReversible_l(Z^(l-1), A^, H^(0))
        return z

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, num_groups={self.num_groups}, alpha={self.alpha}, "
            f"theta={self.theta}, memory_efficient={self.memory_efficient}"
        )
