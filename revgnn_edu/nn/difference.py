"""A graph convolution whose messages are differences, initialised as a pure transfer."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from ..checks import positive_int

__all__ = ["DifferenceConv"]


class DifferenceConv(MessagePassing):
    r"""A graph convolution whose message is the difference between the neighbours'
    mean and the node itself, initialised to move features one hop with gain ``gain``:

    .. math::
        x'_i = W \Big( \frac{1}{|\mathcal{N}(i)|} \sum_{j \in \mathcal{N}(i)} x_j
        - x_i \Big) + b, \qquad W = \mathrm{gain} \cdot I,\ b = 0
        \text{ at initialisation}

    (a node without in-neighbours aggregates 0). Its output vanishes on features that are
    constant along the edges, so a deep residual stack of such blocks does not grow on a
    constant background; and in a residual block :math:`H + f(H)` at initialisation it
    replaces each node's normalised state by its in-neighbours' mean: one hop of gain
    ``gain`` per block, with no random matrix on the path. Deep stacks of blocks with
    random weights lose a signal that must cross many hops (notebook 01 measures it).

    Args:
        in_channels (int): input size.
        out_channels (int): output size; :math:`W` starts as the (rectangular) identity.
        gain (float, optional): the scale of :math:`W` at initialisation.
            (default: :obj:`1.0`)

    Shapes:
        - **input:** node features :math:`(N, F_{in})`, edge_index :math:`(2, E)`
        - **output:** :math:`(N, F_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int, gain: float = 1.0):
        super().__init__(aggr="mean")
        positive_int("in_channels", in_channels)
        positive_int("out_channels", out_channels)
        self.gain = float(gain)
        self.lin = nn.Linear(in_channels, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        with torch.no_grad():
            self.lin.weight.copy_(self.gain * torch.eye(*self.lin.weight.shape))
            self.lin.bias.zero_()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        m = self.propagate(edge_index, x=x)  # mean_{j -> i} x_j (0 without in-neighbours)
        return self.lin(m - x)  # W (mean_j x_j - x_i) + b

    def message(self, x_j: Tensor) -> Tensor:
        return x_j

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.lin.in_features}, {self.lin.out_features})"
