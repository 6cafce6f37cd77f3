"""What every deep GNN in the course shares: encoders in, a deep body, a head out."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from ..checks import (
    check_edge_attr,
    check_edge_index,
    check_features,
    model_sizes,
    positive_int,
    probability,
)
from ..nn.blocks import reset_parameters_of

__all__ = ["GNNBase", "DeepGNN", "ReversibleLayers"]


class GNNBase(nn.Module):
    """The constructor every model of the course shares (as PyG's ``BasicGNN``): the
    four sizes, positional or by name, each a positive integer (checked here, once).

    Args:
        in_channels (int): node input size :math:`F_{in}`.
        hidden_channels (int): width :math:`D`.
        out_channels (int): output size :math:`F_{out}` (classes or tasks).
        num_layers (int): depth :math:`L`.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, num_layers: int):
        super().__init__()
        sizes = model_sizes(in_channels, hidden_channels, out_channels, num_layers)
        self.in_channels, self.hidden_channels, self.out_channels, self.num_layers = sizes

    def reset_parameters(self) -> None:
        """Re-initialize every parameter."""
        reset_parameters_of(self)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.hidden_channels}, {self.out_channels}, "
            f"num_layers={self.num_layers}"
        )


class DeepGNN(GNNBase):
    r"""Encoder -> deep body -> head, the frame of every deep model of the course.

    .. math::
        H^{(0)} = \mathrm{enc}(X), \quad U' = U W_{e}, \quad
        H^{(L)} = \mathrm{body}(H^{(0)}, A, U'), \quad
        Y = \mathrm{Lin}(\mathrm{drop}(\mathrm{ReLU}(\mathrm{LN}(H^{(L)}))))

    The four sizes are :class:`GNNBase`'s, everything after them keyword-only. A
    subclass declares only its own arguments, passes the others on (``*args,
    **kwargs``), and defines its body with one hook, :meth:`make_layer`, called by
    :meth:`build_layers` at the end of its constructor (or it overrides :meth:`body`).

    Args:
        in_channels, hidden_channels, out_channels, num_layers: see :class:`GNNBase`
            (:math:`D` is the width of the body, :math:`L` its depth).
        edge_dim (int, optional): edge feature size :math:`F_e`; the edge features are
            encoded once, :math:`F_e \to D`, and shared by all layers. Without it the
            model takes no edge features. (default: :obj:`None`)
        dropout (float, optional): dropout probability, in the body and before the
            head. (default: :obj:`0.0`)
        node_encoder (callable, optional): the node encoder's constructor, called as
            ``node_encoder(in_channels, hidden_channels)``, e.g.
            :class:`~revgnn_edu.models.presets.ProteinsNodeEncoder`.
            (default: :class:`torch.nn.Linear`)

    Attributes:
        family (str): the model family's name in the paper's Table 1 (``"RevGNN"``).
        complexity (tuple[str, str]): its (activation memory, parameters) in big-O form.

    Shapes:
        - **input:** x :math:`(N, F_{in})`, edge_index :math:`(2, E)`,
          edge_attr :math:`(E, F_e)` (exactly when built with ``edge_dim``)
        - **output:** :math:`(N, F_{out})`
    """

    family: str = ""
    complexity: tuple[str, str] = ("", "")

    def __init__(
        self,
        *args,
        edge_dim: int | None = None,
        dropout: float = 0.0,
        node_encoder: Callable[[int, int], nn.Module] = nn.Linear,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)  # the four sizes
        D = self.hidden_channels
        self.dropout = probability("dropout", dropout)
        self.edge_dim = None if edge_dim is None else positive_int("edge_dim", edge_dim)
        self.node_encoder = node_encoder(self.in_channels, D)
        self.edge_encoder = None if edge_dim is None else nn.Linear(edge_dim, D)
        self.head_norm = nn.LayerNorm(D)
        self.head_dropout = nn.Dropout(dropout)
        self.head = nn.Linear(D, self.out_channels)
        self.layers = nn.ModuleList()  # filled by build_layers() from make_layer(l)
        self.layer_order: list[int] = []  # layer l of the body is layers[layer_order[l]]

    @property
    def layer_edge_dim(self) -> int | None:
        """Width of the edge features the body's layers receive: the edge encoder's
        output :math:`D`, or :obj:`None` for a model without edge features."""
        return None if self.edge_encoder is None else self.edge_encoder.out_features

    # -- the body ----------------------------------------------------------------------
    def make_layer(self, l: int, **kwargs) -> nn.Module:
        """The hook that defines a model: return the body's layer :math:`l`
        (``0 <= l < num_layers``), built with the settings ``kwargs`` that the
        constructor passed to :meth:`build_layers`. Returning a module already returned
        for an earlier layer applies the same weights again (weight tying)."""
        raise NotImplementedError(f"{type(self).__name__} must define make_layer(l, ...)")

    def build_layers(self, **kwargs) -> None:
        """Call :meth:`make_layer` ``(l, **kwargs)`` for every layer; a module returned
        for several layers is registered once and applied at each of them."""
        index: dict[int, int] = {}
        for l in range(self.num_layers):
            layer = self.make_layer(l, **kwargs)
            if id(layer) not in index:
                index[id(layer)] = len(self.layers)
                self.layers.append(layer)
            self.layer_order.append(index[id(layer)])

    def encode_edges(self, edge_attr: Tensor | None) -> Tensor | None:
        """:math:`U' = U W_e`, once per forward pass and shared by all layers."""
        return None if self.edge_encoder is None else self.edge_encoder(edge_attr)

    def body(self, h: Tensor, edge_index: Tensor, edge_attr: Tensor | None) -> Tensor:
        for i in self.layer_order:
            h = self.layers[i](h, edge_index, edge_attr)  # H^(l+1) = layer_l(H^(l), A, U)
        return h

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        check_features(x, self.in_channels)
        edge_index = check_edge_index(edge_index, type(self).__name__, convert=True)  # int64
        check_edge_attr(edge_attr, edge_index, self.edge_dim, type(self).__name__)
        edge_attr = self.encode_edges(edge_attr)  # U' = U W_e
        h = self.node_encoder(x)  # H^(0) = enc(X)
        h = self.body(h, edge_index, edge_attr)  # H^(L)
        h = self.head_dropout(self.head_norm(h).relu())
        return self.head(h)


class ReversibleLayers:
    """Mixin for models whose ``self.layers`` are
    :class:`~revgnn_edu.nn.GroupReversible` layers: one switch for all of them."""

    @property
    def memory_efficient(self) -> bool:
        """Whether the layers free their activations (set it to switch all layers)."""
        return all(layer.memory_efficient for layer in self.layers)

    @memory_efficient.setter
    def memory_efficient(self, value: bool) -> None:
        for layer in self.layers:
            layer.memory_efficient = bool(value)
