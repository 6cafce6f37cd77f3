r"""GENConv's message and max aggregation in one autograd function, keeping no edge tensor.

PyG's ``GENConv`` with ``aggr="max"`` computes, for every edge :math:`j \to i`, the
message :math:`m_{ij} = \mathrm{ReLU}(x_j + e_{ij}) + \epsilon` and then
:math:`m_i = \max_{j \to i} m_{ij}` channel by channel. Autograd keeps the
:math:`E \times g` messages (twice: after the ReLU and after :math:`+\epsilon`) for the
backward pass, and ``scatter_reduce``'s backward makes four more :math:`E \times g`
tensors; on an ogbn-proteins part (:math:`E \approx 0.8` M) each is 121 MiB at
:math:`g = 40` and 338 MiB at :math:`g = 112`.

:func:`gen_max_aggregate` computes the same :math:`m_i` and gradients while keeping only
:math:`N \times g` numbers: the forward pass walks the edges in chunks and keeps the
maximum; the backward pass recomputes each chunk's messages, finds which edges reached
the maximum (ties share the gradient evenly, as in ``scatter_reduce``) and sends the
gradient back through the ReLU to :math:`x_j` and :math:`e_{ij}`. When the edge
features are projected first, :math:`e_{ij} = u_{ij} W^\top + b`, the projection is done
chunk by chunk too, so the :math:`E \times g` projected features never exist at once.
:class:`FusedGENConv` is PyG's ``GENConv`` (the same parameters and state dict) with
this path for max aggregation (``make_conv("gen-fused", ...)``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch_geometric.nn import GENConv

from ..checks import positive_int

__all__ = ["CHUNK_ELEMENTS", "gen_max_aggregate", "FusedGENConv"]

#: elements of one chunk's :math:`\text{edges} \times g` temporaries (16 MiB in float32)
CHUNK_ELEMENTS = 2**22


def _chunks(num_edges: int, width: int, chunk_elements: int) -> list[tuple[int, int]]:
    step = max(1, chunk_elements // max(1, width))
    return [(lo, min(lo + step, num_edges)) for lo in range(0, num_edges, step)]


def _pre_activation(x, src, edge_attr, weight, bias, lo, hi) -> Tensor:
    """:math:`x_j + e_{ij}` for the edges ``lo:hi`` (before the ReLU)."""
    x_j = x.index_select(0, src[lo:hi])
    if edge_attr is None:
        return x_j
    e = edge_attr[lo:hi]
    if weight is not None:
        e = F.linear(e, weight, bias)  # e_ij = u_ij W^T + b
    # (in place when the sum has x's dtype, as it does unless e is the wider type)
    return x_j.add_(e) if torch.result_type(x_j, e) == x_j.dtype else x_j + e


class _GENMaxAggregate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, edge_index, edge_attr, weight, bias, eps, chunk_elements):
        src, dst = edge_index[0], edge_index[1]
        num_nodes, width = x.shape
        out = None
        for lo, hi in _chunks(src.numel(), width, chunk_elements):
            m = _pre_activation(x, src, edge_attr, weight, bias, lo, hi)
            m = m.relu_().add_(eps)  # m_ij = ReLU(x_j + e_ij) + eps
            if out is None:
                out = m.new_full((num_nodes, width), -float("inf"))
            # m_i = max_j m_ij, chunk by chunk (the maximum does not depend on the order)
            out.scatter_reduce_(0, dst[lo:hi, None].expand_as(m), m, "amax")
        if out is None:  # no edges
            out = x.new_zeros(num_nodes, width)
        out.masked_fill_(out == -float("inf"), 0.0)  # nodes without messages: 0, as PyG
        ctx.save_for_backward(x, edge_index, edge_attr, weight, bias, out)
        ctx.eps, ctx.chunk_elements = eps, chunk_elements
        ctx.autocast = {
            "device_type": x.device.type,
            "enabled": torch.is_autocast_enabled(x.device.type),
            "dtype": torch.get_autocast_dtype(x.device.type),
        }
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, edge_index, edge_attr, weight, bias, out = ctx.saved_tensors
        need_x, _, need_e, need_w, need_b = ctx.needs_input_grad[:5]
        src, dst = edge_index[0], edge_index[1]
        width = x.size(1)
        chunks = _chunks(src.numel(), width, ctx.chunk_elements)

        def recompute(lo, hi):
            with torch.autocast(**ctx.autocast):  # the forward pass's precision
                y = _pre_activation(x, src, edge_attr, weight, bias, lo, hi)
            # the edges whose message reached the maximum
            hit = (y.relu() + ctx.eps) == out.index_select(0, dst[lo:hi])
            return y, hit

        # ties share the gradient evenly (as scatter_reduce's backward): count them
        count = torch.zeros_like(out)
        for lo, hi in chunks:
            _, hit = recompute(lo, hi)
            count.index_add_(0, dst[lo:hi], hit.to(count.dtype))
        # every maximum must be found again (messages >= eps > 0; nodes without any: 0)
        lost = ((count == 0) & (out != 0)).any()
        if out.device.type == "cpu" and bool(lost):
            raise RuntimeError(
                "gen_max_aggregate: the messages recomputed in backward differ from the "
                "forward pass's (a nondeterministic kernel?); the gradient cannot be routed"
            )
        if out.device.type != "cpu":
            torch._assert_async(~lost)
        share = grad_out / count  # (0/0 = nan for nodes without messages: never read)
        grad_x = torch.zeros_like(x) if need_x else None
        grad_e = torch.empty_like(edge_attr) if need_e else None
        grad_w = torch.zeros_like(weight) if need_w else None
        grad_b = torch.zeros_like(bias) if need_b else None
        for lo, hi in chunks:
            y, hit = recompute(lo, hi)
            # dL/dy_ij = [m_ij is the maximum] dL/dm_i / ties, through the ReLU (y > 0)
            g = share.index_select(0, dst[lo:hi]).mul_(hit).masked_fill_(y <= 0, 0.0)
            del y, hit
            if need_x:  # x_j: summed over the edges leaving j
                grad_x.index_add_(0, src[lo:hi], g.to(grad_x.dtype))
            if edge_attr is None:
                continue
            if weight is None:
                if need_e:
                    grad_e[lo:hi] = g
                continue
            u = edge_attr[lo:hi]
            if need_w:  # e_ij = u_ij W^T + b
                grad_w.add_(g.t().to(u.dtype) @ u)
            if need_b:
                grad_b.add_(g.sum(0))
            if need_e:
                grad_e[lo:hi] = g.to(weight.dtype) @ weight
        return grad_x, None, grad_e, grad_w, grad_b, None, None


def gen_max_aggregate(
    x: Tensor,
    edge_index: Tensor,
    edge_attr: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-7,
    chunk_elements: int = CHUNK_ELEMENTS,
) -> Tensor:
    r"""GENConv's max-aggregated messages, keeping no :math:`E`-sized tensor for backward.

    .. math::
        m_i = \max_{j \to i} \big(\mathrm{ReLU}(x_j + e_{ij}) + \epsilon\big), \qquad
        e_{ij} = u_{ij} W^\top + b \ \text{(with ``weight``)}, \ u_{ij} \ \text{(without)}

    and :math:`m_i = 0` for a node without incoming edges. The same values and gradients
    as PyG's ``GENConv`` message with ``scatter(..., reduce="max")`` (ties share the
    gradient evenly), computed over chunks of edges.

    Args:
        x (torch.Tensor): node features :math:`x`.
        edge_index (torch.Tensor): ``(2, E)``, messages flow from ``edge_index[0]`` to
            ``edge_index[1]``.
        edge_attr (torch.Tensor, optional): edge features :math:`u`; :obj:`None` for
            messages :math:`\mathrm{ReLU}(x_j) + \epsilon`. (default: :obj:`None`)
        weight (torch.Tensor, optional): projection :math:`W` of shape
            :math:`(g, F_e)` applied to ``edge_attr``. (default: :obj:`None`)
        bias (torch.Tensor, optional): its bias :math:`b`. (default: :obj:`None`)
        eps (float, optional): :math:`\epsilon`. (default: :obj:`1e-7`)
        chunk_elements (int, optional): elements of one chunk's temporaries.
            (default: :data:`CHUNK_ELEMENTS`)

    Shapes:
        - **input:** x :math:`(N, g)`, edge_index :math:`(2, E)`, edge_attr
          :math:`(E, g)` or :math:`(E, F_e)` with ``weight`` :math:`(g, F_e)`
        - **output:** :math:`(N, g)`
    """
    positive_int("chunk_elements", chunk_elements)
    if edge_attr is None and weight is not None:
        raise ValueError("gen_max_aggregate: a weight was given but no edge_attr")
    width = weight.size(0) if weight is not None else None
    if edge_attr is not None and (width or edge_attr.size(-1)) != x.size(-1):
        raise ValueError(
            f"gen_max_aggregate: the edge features have {width or edge_attr.size(-1)} "
            f"channels (after the projection) but x has {x.size(-1)}"
        )
    return _GENMaxAggregate.apply(x, edge_index, edge_attr, weight, bias, eps, chunk_elements)


class FusedGENConv(GENConv):
    r"""PyG's :class:`~torch_geometric.nn.conv.GENConv` with its message and max
    aggregation computed by :func:`gen_max_aggregate`: the same parameters, state dict
    and function, without the :math:`E \times g` tensors autograd would keep.

    .. math::
        \mathbf{x}_i' = \mathrm{MLP}\Big(\mathbf{x}_i + \max_{j \to i}
        \big(\mathrm{ReLU}(\mathbf{x}_j + \mathbf{e}_{ji}) + \epsilon\big)\Big)

    Takes ``GENConv``'s arguments; the fused path needs ``aggr="max"``, equal input and
    output sizes and no message normalization (other settings raise a ValueError).
    ``forward`` also takes ``edge_projection=(W, b)``: project the edge features inside
    the fused function (the caller's own projection, e.g. a folded one).

    Shapes:
        - **input:** node features :math:`(N, F)`, edge_index :math:`(2, E)`, edge
          features :math:`(E, F_e)` (optional)
        - **output:** :math:`(N, F)`
    """

    def __init__(self, in_channels: int, out_channels: int, aggr: str = "max", **kwargs):
        super().__init__(in_channels, out_channels, aggr=aggr, **kwargs)
        unsupported = [
            name
            for name in ("lin_src", "lin_dst", "lin_aggr_out", "msg_norm")
            if hasattr(self, name)
        ]
        if aggr != "max" or unsupported:
            raise ValueError(
                f"FusedGENConv needs aggr='max', in_channels == out_channels and no "
                f"msg_norm; got aggr={aggr!r}, in_channels={in_channels}, "
                f"out_channels={out_channels}"
                + (f" ({', '.join(unsupported)})" if unsupported else "")
            )
        #: elements of one chunk's edges x g temporaries (see :func:`gen_max_aggregate`)
        self.chunk_elements = CHUNK_ELEMENTS

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_attr: Tensor | None = None,
        edge_projection: tuple[Tensor, Tensor | None] | None = None,
    ) -> Tensor:
        weight, bias = edge_projection if edge_projection is not None else (None, None)
        if edge_attr is not None and weight is None and hasattr(self, "lin_edge"):
            weight, bias = self.lin_edge.weight, self.lin_edge.bias
        # m_i = max_j ReLU(x_j + e_ij) + eps, then MLP(x_i + m_i)
        m = gen_max_aggregate(x, edge_index, edge_attr, weight, bias, self.eps, self.chunk_elements)
        return self.mlp(m + x)
