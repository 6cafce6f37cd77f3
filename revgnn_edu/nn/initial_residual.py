r"""GCNII's initial residual and identity mapping as a block of a reversible layer.

GCNII (Chen et al., "Simple and Deep Graph Convolutional Networks", ICML 2020) keeps
the input signal in a deep GCN by mixing the encoder's output :math:`H^{(0)}` into
every layer (*initial residual*) and by keeping each layer's weight close to the
identity (*identity mapping*). Here the same layer is a block :math:`f_i` of a
:class:`~revgnn_edu.nn.GroupReversible` coupling: :math:`H^{(0)}` is a fixed extra
input of every layer, passed like the edge features (``layer(x, adj, h0)`` calls
``block(x_i, adj, h0)``), so the coupling's inverse is unchanged and :math:`H^{(0)}`
receives its gradient from every block.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from ..checks import check_features, int_at_least, positive_int, positive_number, probability
from .dropout import uniform_dropout

__all__ = ["GCNIIBlock", "gcn_adjacency"]


def gcn_adjacency(edge_index: Tensor, num_nodes: int, dtype: torch.dtype | None = None) -> Tensor:
    r"""The normalised adjacency with self-loops of GCN and GCNII,
    :math:`\hat A = \hat D^{-1/2} (A + I) \hat D^{-1/2}`, as a sparse COO matrix whose
    row :math:`i` holds the weights of the messages node :math:`i` receives (PyG's
    ``adj_t``), built with PyG's :func:`~torch_geometric.nn.conv.gcn_conv.gcn_norm`.

    Build it once per forward pass and pass it to every layer: it depends only on the
    graph, so it is never cached between calls (a changed graph is never stale).

    Args:
        edge_index (torch.Tensor): edges :math:`(2, E)`, source then target, long.
        num_nodes (int): number of nodes :math:`N`.
        dtype (torch.dtype, optional): the weights' dtype. (default: the default dtype)

    Shapes:
        - **input:** edge_index :math:`(2, E)`
        - **output:** :math:`(N, N)`, sparse COO (coalesced), with :math:`E + N` stored entries
          when the graph has no self-loops
    """
    positive_int("num_nodes", num_nodes)
    if (
        not isinstance(edge_index, Tensor)
        or edge_index.layout != torch.strided
        or edge_index.dim() != 2
        or edge_index.size(0) != 2
        or edge_index.dtype != torch.long
    ):
        what = (
            f"{edge_index.dtype} tensor of shape {tuple(edge_index.shape)}"
            if isinstance(edge_index, Tensor)
            else type(edge_index).__name__
        )
        raise ValueError(f"edge_index must be a dense long tensor of shape (2, E), got {what}")
    if edge_index.numel() and not 0 <= int(edge_index.min()) <= int(edge_index.max()) < num_nodes:
        raise ValueError(
            f"edge_index holds node indices in {int(edge_index.min())}..."
            f"{int(edge_index.max())}, outside 0..{num_nodes - 1} (num_nodes={num_nodes})"
        )
    index, weight = gcn_norm(edge_index, num_nodes=num_nodes, add_self_loops=True, dtype=dtype)
    # row i: the weights of the messages node i receives (indices checked above)
    adj_t = torch.sparse_coo_tensor(
        index.flip(0), weight, (num_nodes, num_nodes), check_invariants=False
    )
    return adj_t.coalesce()


class GCNIIBlock(nn.Module):
    r"""The GCNII layer of `"Simple and Deep Graph Convolutional Networks"
    <https://arxiv.org/abs/2007.02133>`_ (Chen et al., ICML 2020), written as the block
    of group :math:`i` of a reversible layer:

    .. math::
        f_i(X) = s \cdot \mathrm{ReLU}\Big(\big((1 - \alpha)\, \hat A\,
        \mathrm{drop}(X) + \alpha H^{(0)}_i\big)
        \big((1 - \beta_l) I + \beta_l W_l\big)\Big), \qquad
        \beta_l = \log\Big(\frac{\theta}{l} + 1\Big),

    where :math:`H^{(0)}_i` is the :math:`i`-th group (columns
    :math:`[i g, (i + 1) g)`) of the encoder output :math:`H^{(0)}` (initial residual),
    :math:`(1 - \beta_l) I + \beta_l W_l` keeps the weight of deep layers close to the
    identity (identity mapping), and :math:`s` scales the block's output. Inside the
    ReLU this is PyG's :class:`~torch_geometric.nn.conv.GCN2Conv` (``normalize=False``,
    shared weights), computed with one sparse product :math:`\hat A h` whose backward
    needs no format conversion; the block receives :math:`\hat A` ready-made (see
    :func:`gcn_adjacency`). :math:`W_l` starts uniform in
    :math:`[-1/\sqrt{g}, 1/\sqrt{g}]`, as in the GCNII authors' code.

    Args:
        channels (int): the block's width :math:`g` (the group width :math:`D / C`).
        layer (int): the layer's index :math:`l \ge 1` in the stack (sets
            :math:`\beta_l`).
        alpha (float, optional): share :math:`\alpha` of the initial residual, in
            :math:`[0, 1)`. (default: :obj:`0.1`)
        theta (float, optional): :math:`\theta > 0` of the identity mapping.
            (default: :obj:`0.5`)
        group (int, optional): which group :math:`i \ge 0` of :math:`H^{(0)}` the block
            reads. (default: :obj:`0`)
        dropout (float, optional): dropout probability on the block's input.
            (default: :obj:`0.0`)
        scale (float, optional): the output scale :math:`s > 0`. (default: :obj:`1.0`)

    Shapes:
        - **input:** x :math:`(N, g)`, adj :math:`(N, N)` sparse (:math:`\hat A`),
          h0 :math:`(N, D)` with :math:`D \ge (i + 1) g`
        - **output:** :math:`(N, g)`
    """

    def __init__(
        self,
        channels: int,
        layer: int,
        alpha: float = 0.1,
        theta: float = 0.5,
        group: int = 0,
        dropout: float = 0.0,
        scale: float = 1.0,
    ):
        super().__init__()
        self.channels = positive_int("channels", channels)
        self.layer = positive_int("layer", layer)
        self.alpha = probability("alpha", alpha)
        self.theta = positive_number("theta", theta)
        self.group = int_at_least("group", group, 0)
        self.scale = positive_number("scale", scale)
        self.dropout = probability("dropout", dropout)
        self.beta = math.log(self.theta / self.layer + 1)  # beta_l = log(theta / l + 1)
        self.weight = nn.Parameter(torch.empty(channels, channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.channels)
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)  # as in the GCNII authors' code

    def forward(self, x: Tensor, adj: Tensor, h0: Tensor) -> Tensor:
        if not isinstance(adj, Tensor) or adj.layout not in (torch.sparse_csr, torch.sparse_coo):
            got = adj.layout if isinstance(adj, Tensor) else type(adj).__name__
            raise ValueError(
                "GCNIIBlock expects the normalised adjacency as a sparse matrix "
                f"(build it once with gcn_adjacency(edge_index, num_nodes)), got {got}"
            )
        g, i = self.channels, self.group
        check_features(x, g)
        if h0.dim() != 2 or h0.size(0) != x.size(0) or h0.size(1) < (i + 1) * g:
            raise ValueError(
                f"h0 must have shape ({x.size(0)}, D) with D >= {(i + 1) * g} to hold group "
                f"{i} of width {g}, got {tuple(h0.shape)}"
            )
        h0_i = h0.narrow(1, i * g, g)  # H0_i, this block's group of the encoder output
        # S = (1 - alpha) A drop(X) + alpha H0_i   (initial residual)
        s = (
            torch.sparse.mm(adj, uniform_dropout(x, self.dropout, self.training))
            .mul(1 - self.alpha)
            .add(h0_i, alpha=self.alpha)
        )
        # S ((1 - beta_l) I + beta_l W_l) = (1 - beta_l) S + beta_l S W_l   (identity mapping)
        out = torch.addmm(s, s, self.weight, beta=1 - self.beta, alpha=self.beta)
        return self.scale * out.relu()

    def extra_repr(self) -> str:
        return (
            f"{self.channels}, layer={self.layer}, alpha={self.alpha}, theta={self.theta}, "
            f"group={self.group}, dropout={self.dropout}, scale={self.scale:.4g}"
        )
