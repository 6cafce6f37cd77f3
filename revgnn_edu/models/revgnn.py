"""RevGNN: a deep GNN of grouped reversible layers, whose memory does not grow with depth."""

from __future__ import annotations

from torch import Tensor, nn

from ..checks import group_width
from ..nn.blocks import ConvSpec, GNNBlock
from ..nn.dropout import SharedDropout, dropout_mask
from ..nn.reversible import GroupReversible
from .base import DeepGNN, ReversibleLayers

__all__ = ["RevGNN"]


class RevGNN(ReversibleLayers, DeepGNN):
    r"""The reversible GNN of the `"Training Graph Neural Networks with 1000 Layers"
    <https://arxiv.org/abs/2106.07476>`_ paper: :math:`L` grouped reversible layers

    .. math::
        H^{(l+1)} = \mathrm{GroupReversible}_l(H^{(l)}, A, U), \quad
        f_{l,i}(X) = \mathrm{GENConv}(\mathrm{drop}_M(\mathrm{ReLU}(\mathrm{LN}(X))),
        A, U)

    where each of the :math:`C` groups of each layer has its own block :math:`f_{l,i}` of
    width :math:`D/C`, and one dropout mask :math:`M` (:math:`N \times D`, group
    :math:`i` uses its :math:`i`-th column block) is drawn per forward pass and shared by
    all layers. Training keeps :math:`O(ND)` activations whatever the depth.

    Args:
        in_channels, out_channels, num_layers: see
            :class:`~revgnn_edu.models.base.GNNBase`; ``num_layers`` is the number of
            reversible layers :math:`L`.
        hidden_channels (int): width :math:`D`, divisible by ``num_groups``.
        num_groups (int, optional): number of groups :math:`C \ge 2`. (default: :obj:`2`)
        conv (str or callable, optional): the inner conv, see
            :func:`~revgnn_edu.nn.make_conv`. (default: ``"gen"``)
        aggr (str, optional): GENConv's aggregation. (default: ``"max"``)
        memory_efficient (bool, optional): if :obj:`False`, the same model trained with
            ordinary autograd (memory grows with depth). (default: :obj:`True`)
        fold_edge_encoder (bool, optional): fold the shared edge encoder
            (:math:`F_e \to D`) into each block's edge projection (:math:`D \to D/C`):
            the same parameters and function, but each block reads :math:`E \times F_e`
            numbers instead of :math:`E \times D`. The state dict is the same with and
            without folding, so checkpoints load either way. (default: :obj:`False`)
        **kwargs: ``edge_dim`` (encoded to :math:`D`; each block then projects
            :math:`D \to D/C`), ``dropout`` (the shared dropout, also used before the
            head), ``node_encoder``, see :class:`~revgnn_edu.models.base.DeepGNN`.

    Shapes: as :class:`~revgnn_edu.models.base.DeepGNN`.
    """

    family = "RevGNN"
    complexity = ("O(ND)", "O(LD^2)")

    def __init__(
        self,
        *args,
        num_groups: int = 2,
        conv: ConvSpec = "gen",
        aggr: str = "max",
        memory_efficient: bool = True,
        fold_edge_encoder: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.group_width = group_width(self.hidden_channels, num_groups)
        self.num_groups = num_groups
        self.fold_edge_encoder = bool(fold_edge_encoder) and self.edge_encoder is not None
        # one SharedDropout per group, shared by that group's block in every layer
        self.group_dropouts = nn.ModuleList(SharedDropout(self.dropout) for _ in range(num_groups))
        self.build_layers(conv=conv, aggr=aggr, memory_efficient=memory_efficient)

    def make_layer(
        self, l: int, conv: ConvSpec, aggr: str, memory_efficient: bool
    ) -> GroupReversible:
        """Layer :math:`l`: :math:`C` blocks of width :math:`D/C`, block :math:`i` using
        the group-:math:`i` dropout (and the folded edge encoder, when folding)."""
        folded = self.edge_encoder if self.fold_edge_encoder else None
        blocks = [
            GNNBlock(self.group_width, conv, self.layer_edge_dim, drop, aggr, edge_encoder=folded)
            for drop in self.group_dropouts
        ]
        return GroupReversible(blocks, memory_efficient=bool(memory_efficient))

    def encode_edges(self, edge_attr: Tensor | None) -> Tensor | None:
        # folded: each block applies its W_p W_e to the raw edge features
        return edge_attr if self.fold_edge_encoder else super().encode_edges(edge_attr)

    def share_dropout_mask(self, h: Tensor) -> None:
        """Draw one mask M ~ Bernoulli(1 - p) / (1 - p), N x D, for the whole forward
        pass; group i of every layer uses its i-th column block (none in eval mode)."""
        active = self.training and self.dropout > 0
        masks = (
            dropout_mask(h, self.dropout).chunk(self.num_groups, dim=1)
            if active
            else [None] * self.num_groups
        )
        for drop, mask in zip(self.group_dropouts, masks):
            drop.set_mask(mask)

    def body(self, h: Tensor, edge_index: Tensor, edge_attr: Tensor | None) -> Tensor:
        self.share_dropout_mask(h)  # one M per forward pass; each layer records it
        return super().body(h, edge_index, edge_attr)  # H <- GroupReversible_l(H, A, U)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, num_groups={self.num_groups}, "
            f"memory_efficient={self.memory_efficient}"
        )
