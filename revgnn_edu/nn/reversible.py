"""Grouped reversible connections, and the autograd function that makes them cheap.

A reversible layer's input can be computed from its output, so training does not have
to keep it: :class:`GroupReversible` runs its blocks without recording a graph, keeps
only its output, and in the backward pass rebuilds the input from the output, running
each block once more -- this time with gradients -- to backpropagate through it. In a
stack of :math:`L` layers, each layer's output is the next layer's input, so only one
:math:`N \\times D` tensor per stack has to survive the forward pass: activation memory
is :math:`O(ND)` instead of :math:`O(LND)`.

How the memory is given back, safely. Between two layers the output :math:`Y` of layer
:math:`l` is kept in a small *slot* (owned by layer :math:`l`'s autograd node). When
layer :math:`l+1` consumes :math:`Y` it empties that slot, so :math:`Y` is freed as
soon as the caller drops its own reference (``h = layer(h)`` does). In backward, layer
:math:`l+1` rebuilds :math:`Y` and puts it back into the slot for layer :math:`l`. No
storage is ever freed under a tensor someone can still read (PyG's ``GroupAddRev``
frees it with ``untyped_storage().resize_(0)``, and reading the freed tensor crashes
the interpreter); a tensor the caller keeps simply stays alive and valid.

What the backward pass re-runs, exactly. Each forward pass hands its own autograd node
the blocks' training flags and :class:`~revgnn_edu.nn.SharedDropout` masks
(:mod:`revgnn_edu.nn.recompute`) and, in training mode, a seed under which each block
draws its random numbers, so the recomputation is the same function even after other
forward passes (gradient accumulation, a second graph, an evaluation pass), with any
randomness inside a block (``nn.Dropout``, ``GATConv(dropout=...)``), and without
updating module buffers (BatchNorm statistics) a second time. The backward pass is
first-order: ``create_graph=True`` gives correct first derivatives, and differentiating
them again raises PyTorch's ``once_differentiable`` error.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import reduce

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from .blocks import reset_parameters_of
from .recompute import ForwardState, capture, replay

__all__ = ["GroupReversible"]

BlockSpec = Sequence[nn.Module] | Callable[[int], nn.Module]
_SLOT = "_revgnn_slot"  # the attribute on a coupling's output that points to its slot


class _Slot:
    """Where one coupling keeps its output :math:`Y` between forward and backward.

    The next coupling takes it over in forward (empties it, keeping only a weak
    reference to the caller's tensor) and refills it in backward with the :math:`Y` it
    rebuilt. Version counters catch in-place changes that would break the inverse.
    """

    def __init__(self):
        self.tensor: Tensor | None = None
        self.version = 0
        self.handed_over = False
        self.visible = None

    def keep(self, y: Tensor) -> None:
        self.tensor, self.version = y.detach(), y._version  # an alias: no graph, no copy

    def take_over(self, y: Tensor) -> None:
        self.tensor, self.handed_over = None, True
        self.visible = weakref.ref(y)  # still usable while the caller keeps y

    def refill(self, y: Tensor) -> None:
        self.tensor, self.version = y, y._version

    def get(self) -> Tensor:
        y = self.tensor if self.tensor is not None else (self.visible and self.visible())
        if y is None:
            raise RuntimeError(
                "GroupReversible: this layer's output was handed to the next reversible "
                "layer, which frees it, but the backward pass reached this layer without "
                "going through that next layer, so nothing rebuilt the output. Compute "
                "the loss from the last layer's output, keep a reference to this layer's "
                "output, or use memory_efficient=False."
            )
        if y._version != self.version:
            raise RuntimeError(
                "GroupReversible: the output of a reversible layer was modified in place "
                "after the forward pass; rebuilding the layer's input needs it unchanged "
                "(use out = out + ... instead of out += ...)."
            )
        return y


def _sum(tensors: Sequence[Tensor]) -> Tensor:
    return reduce(torch.add, tensors)


def _add(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """a + b, where None stands for a zero gradient."""
    return b if a is None else (a if b is None else a + b)


def _autocast_state(device_type: str) -> dict:
    """The autocast settings in force now, to re-enter them in backward."""
    return {
        "device_type": device_type,
        "enabled": torch.is_autocast_enabled(device_type),
        "dtype": torch.get_autocast_dtype(device_type),
    }


@contextmanager
def _seeded(device: torch.device, seed: int) -> Iterator[None]:
    """Run the body with ``device``'s default random generator seeded with ``seed``,
    then give the generator back its state. (Seeding the generator directly costs
    about 30 us; ``fork_rng`` with ``torch.manual_seed``, which visits every backend,
    costs about 2 ms.)"""
    if device.type == "cpu":
        gen = torch.default_generator
    elif device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        gen = torch.cuda.default_generators[index]
    else:  # other backends: the general, slower way
        with torch.random.fork_rng(devices=[device], device_type=device.type):
            torch.manual_seed(seed)
            yield
        return
    state = gen.get_state()
    gen.manual_seed(seed)
    try:
        yield
    finally:
        gen.set_state(state)


def _parameters_of(modules: Sequence[nn.Module]) -> list[nn.Parameter]:
    """The trainable parameters the modules use: their own, and those they share with
    others without owning them (``module.shared_parameters()``, e.g. a folded encoder);
    each once."""
    used = []
    for m in modules:
        used += list(m.parameters())
        used += list(getattr(m, "shared_parameters", list)())
    return [p for p in dict.fromkeys(used) if p.requires_grad]


class _ReversibleFunction(torch.autograd.Function):
    """Runs a :class:`GroupReversible` coupling without recording its activations."""

    @staticmethod
    def forward(ctx, coupling, slot_in, slot_out, seed, state, edge_index, edge_attr, x, *params):
        # Autograd records nothing inside forward: the blocks' activations die here.
        y = coupling._couple(x, edge_index, edge_attr, seed)
        slot_out.keep(y)  # keep Y (and only Y) to rebuild X in backward
        if slot_in is not None:  # X is the previous coupling's output: stop keeping it
            slot_in.take_over(x)
        # this forward's seed, training flags and dropout masks travel with its node
        ctx.coupling, ctx.seed, ctx.state, ctx.params = coupling, seed, state, params
        ctx.slot_in, ctx.slot_out = slot_in, slot_out
        ctx.autocast = _autocast_state(x.device.type)  # recompute f_i in the same precision
        # Saved tensors are released after a backward pass unless retain_graph=True, so
        # reading them in backward raises autograd's own "backward through the graph a
        # second time" error.
        ctx.save_for_backward(*(t for t in (edge_index, edge_attr) if isinstance(t, Tensor)))
        ctx.edge_index_saved = isinstance(edge_index, Tensor)
        ctx.edge_index_obj = None if ctx.edge_index_saved else edge_index
        ctx.has_edge_attr = edge_attr is not None
        return y

    @staticmethod
    @once_differentiable  # backward evaluates the blocks with their own small graphs
    def backward(ctx, grad_y):
        saved = list(ctx.saved_tensors)
        edge_index = saved.pop(0) if ctx.edge_index_saved else ctx.edge_index_obj
        edge_attr = saved.pop(0) if ctx.has_edge_attr else None
        y = ctx.slot_out.get()
        # re-run f_i as in this forward (flags, masks), leaving the buffers untouched
        with torch.autocast(**ctx.autocast), replay(ctx.state, keep_buffers=True):
            x, grad_x, grad_edge, grad_params = ctx.coupling._rebuild_and_backprop(
                y,
                grad_y,
                edge_index,
                edge_attr,
                ctx.seed,
                ctx.params,
                edge_grad=ctx.needs_input_grad[6],
            )
        if ctx.slot_in is not None:  # hand the rebuilt X to the layer that produced it
            ctx.slot_in.refill(x)
        if ctx.slot_out.handed_over:  # Y was rebuilt for us by the next layer: free it
            ctx.slot_out.tensor = None
        grad_x = grad_x if ctx.needs_input_grad[7] else None
        return (None, None, None, None, None, None, grad_edge, grad_x, *grad_params)


class GroupReversible(nn.Module):
    r"""The grouped reversible connection from the `"Training Graph Neural Networks
    with 1000 Layers" <https://arxiv.org/abs/2106.07476>`_ paper: the channels are split
    into :math:`C` groups :math:`X = [X_1, \ldots, X_C]` and

    .. math::
        X'_0 = \sum_{i=2}^{C} X_i, \qquad
        X'_i = f_i(X'_{i-1}, A, U) + X_i \quad (i = 1, \ldots, C),

    with output :math:`[X'_1, \ldots, X'_C]`. The inverse runs backwards:
    :math:`X_i = X'_i - f_i(X'_{i-1}, A, U)` for :math:`i = C, \ldots, 2`, then
    :math:`X_1 = X'_1 - f_1(\sum_{i \ge 2} X_i, A, U)`.

    With ``memory_efficient=True`` and gradients enabled, the layer keeps no activations:
    the backward pass rebuilds the input from the output and evaluates each block once,
    with gradients, at the rebuilt input (see the module docs).

    Args:
        blocks (list of torch.nn.Module or callable): the blocks :math:`f_1, \ldots,
            f_C`, each with its own weights, mapping :math:`(N, D/C)` to
            :math:`(N, D/C)` and called as ``block(x, edge_index)`` or, when edge
            features are given, ``block(x, edge_index, edge_attr)``; or a factory
            ``i -> block`` (then ``num_groups`` is required).
        num_groups (int, optional): the number of groups :math:`C \ge 2`; must equal
            ``len(blocks)`` when both are given. (default: :obj:`None`)
        memory_efficient (bool, optional): if :obj:`False`, run the same computation
            with ordinary autograd (keeps every activation; a reference for tests).
            (default: :obj:`True`)
        preserve_rng_state (bool, optional): in training mode, replay each block's
            random numbers when it is recomputed in backward (each block runs under its
            own seed, drawn once per forward pass), so that any randomness inside a
            block -- :class:`torch.nn.Dropout`, functional dropout as in
            ``GATConv(dropout=...)`` -- is the same in forward and backward. Set it to
            :obj:`False` only for blocks that draw no random numbers (a
            :class:`~revgnn_edu.nn.SharedDropout` needs no replay), to save the
            seeding. :obj:`None` means :obj:`True`. (default: :obj:`True`)

    Shapes:
        - **input:** node features :math:`(N, D)`, edge_index :math:`(2, E)`,
          edge_attr :math:`(E, F_e)` (optional; every block gets all of it, as in the
          official code -- PyG's ``GroupAddRev`` splits it into groups when
          :math:`F_e = D`)
        - **output:** :math:`(N, D)`
    """

    def __init__(
        self,
        blocks: BlockSpec,
        num_groups: int | None = None,
        memory_efficient: bool = True,
        preserve_rng_state: bool | None = True,
    ):
        super().__init__()
        if isinstance(blocks, nn.Module) and not isinstance(blocks, nn.ModuleList):
            raise TypeError(
                "blocks must be a list of num_groups modules or a factory "
                f"i -> module, got a single {type(blocks).__name__}"
            )
        if callable(blocks) and not isinstance(blocks, nn.ModuleList):
            if num_groups is None:
                raise ValueError("num_groups is required when blocks is a factory")
            blocks = [blocks(i) for i in range(num_groups)]
        blocks = nn.ModuleList(blocks)
        if num_groups is not None and num_groups != len(blocks):
            raise ValueError(f"num_groups={num_groups} but {len(blocks)} blocks were given")
        if len(blocks) < 2:
            raise ValueError(f"num_groups must be at least 2, got {len(blocks)}")
        self.blocks = blocks
        self.memory_efficient = memory_efficient
        self.preserve_rng_state = preserve_rng_state

    @property
    def num_groups(self) -> int:
        return len(self.blocks)

    def reset_parameters(self) -> None:
        reset_parameters_of(self)

    # -- the coupling and its inverse ------------------------------------------------
    def forward(self, x: Tensor, edge_index, edge_attr: Tensor | None = None) -> Tensor:
        self._check_input(x, "x")
        seed = self._draw_seed()
        params = _parameters_of(self.blocks)
        needs_graph = torch.is_grad_enabled() and (
            x.requires_grad or bool(params) or (edge_attr is not None and edge_attr.requires_grad)
        )
        if not (self.memory_efficient and needs_graph):
            return self._couple(x, edge_index, edge_attr, seed)  # ordinary autograd
        slot_in = getattr(x, _SLOT, None)  # was x made by another coupling, unchanged?
        if slot_in is not None and slot_in.version != x._version:
            slot_in = None
        slot_out = _Slot()
        state: ForwardState = capture(list(self.blocks))  # flags and masks of this pass
        y = _ReversibleFunction.apply(
            self, slot_in, slot_out, seed, state, edge_index, edge_attr, x, *params
        )
        setattr(y, _SLOT, slot_out)  # lets the next coupling find and take over Y
        return y

    def inverse(self, y: Tensor, edge_index, edge_attr: Tensor | None = None) -> Tensor:
        """Compute :math:`X` from :math:`Y = \\mathrm{forward}(X)` (exact up to rounding
        when the blocks are deterministic, e.g. in eval mode or with a fixed
        :class:`~revgnn_edu.nn.SharedDropout` mask)."""
        self._check_input(y, "y")
        C = self.num_groups
        ys = y.chunk(C, dim=-1)  # Y = [X'_1, ..., X'_C]
        xs: list[Tensor] = [y] * C
        for i in range(C - 1, 0, -1):  # X_i = X'_i - f_i(X'_{i-1}, A, U), i = C..2
            xs[i] = ys[i] - self._block(i, ys[i - 1], edge_index, edge_attr, None)
        h = _sum(xs[1:])  # X'_0 = sum_{i>=2} X_i
        xs[0] = ys[0] - self._block(0, h, edge_index, edge_attr, None)  # X_1 = X'_1 - f_1(X'_0)
        return torch.cat(xs, dim=-1)  # X = [X_1, ..., X_C]

    def _couple(self, x: Tensor, edge_index, edge_attr, seed) -> Tensor:
        xs = x.chunk(self.num_groups, dim=-1)  # X = [X_1, ..., X_C]
        h = _sum(xs[1:])  # X'_0 = sum_{i>=2} X_i
        ys = []
        for i in range(self.num_groups):  # X'_i = f_i(X'_{i-1}, A, U) + X_i
            h = xs[i] + self._block(i, h, edge_index, edge_attr, seed)
            ys.append(h)
        return torch.cat(ys, dim=-1)  # Y = [X'_1, ..., X'_C]

    # -- backward: rebuild the input and backpropagate, one block evaluation each -----
    def _rebuild_and_backprop(
        self, y: Tensor, grad_y: Tensor, edge_index, edge_attr, seed, params, edge_grad: bool
    ):
        """Walk the groups from C down to 1. Group i's block input is known by then
        (X'_{i-1} is part of Y; X'_0 needs the X_2..X_C rebuilt before it), so one
        evaluation of f_i with a graph both rebuilds X_i and backpropagates:
        dL/dX_i = dL/dX'_i (+ dL/dX'_0 for i >= 2) and
        dL/dX'_{i-1} += (df_i/dX'_{i-1})^T dL/dX'_i."""
        C = self.num_groups
        ys = y.chunk(C, dim=-1)  # X'_1, ..., X'_C
        grad_ys = list(grad_y.chunk(C, dim=-1))  # dL/dX'_i, completed from i = C down
        x, grad_x = torch.empty_like(y), torch.empty_like(y)
        xs, grad_xs = x.chunk(C, dim=-1), grad_x.chunk(C, dim=-1)
        e = edge_attr.detach().requires_grad_() if edge_grad else edge_attr
        grad_e, grad_p = None, {}
        for i in range(C - 1, -1, -1):
            # the input of f_i: X'_{i-1} is part of Y; X'_0 = sum of the rebuilt X_2..X_C
            h = (ys[i - 1] if i > 0 else _sum(xs[1:])).detach().requires_grad_()
            block_params = _parameters_of([self.blocks[i]])
            with torch.enable_grad():
                f = self._block(i, h, edge_index, e, seed)  # f_i(X'_{i-1}), with a graph
            inputs = [h] + ([e] if edge_grad else []) + block_params
            grads = torch.autograd.grad(f, inputs, grad_ys[i].to(f.dtype), allow_unused=True)
            # (written after the grad call: for C = 2, h is a view of x)
            torch.sub(ys[i], f.detach(), out=xs[i])  # X_i = X'_i - f_i(X'_{i-1})
            grad_xs[i].copy_(grad_ys[i])  # X'_i = f_i + X_i  =>  dL/dX_i = dL/dX'_i
            grad_h, grads = grads[0], list(grads[1:])
            if grad_h is not None and i > 0:  # X'_{i-1} also feeds f_i
                grad_ys[i - 1] = grad_ys[i - 1] + grad_h
            elif grad_h is not None:  # X'_0 = sum_{j>=2} X_j feeds f_1
                for g in grad_xs[1:]:
                    g.add_(grad_h)
            if edge_grad:  # U feeds every block
                grad_e = _add(grad_e, grads.pop(0))
            for p, g in zip(block_params, grads):  # (a parameter may be shared by blocks)
                grad_p[p] = _add(grad_p.get(p), g)
        return x, grad_x, grad_e, [grad_p.get(p) for p in params]

    # -- helpers -----------------------------------------------------------------------
    def _block(self, i: int, h: Tensor, edge_index, edge_attr, seed) -> Tensor:
        block = self.blocks[i]
        args = (h, edge_index) if edge_attr is None else (h, edge_index, edge_attr)
        if seed is None:
            out = block(*args)
        else:  # replay the same random numbers whenever f_i runs in this forward pass
            with _seeded(h.device, seed + i):
                out = block(*args)
        if not isinstance(out, Tensor) or out.shape != h.shape:
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"block {i} ({type(block).__name__}) returned shape {shape} "
                f"for an input of shape {tuple(h.shape)}; every block of a "
                f"GroupReversible must map (N, D/C) to (N, D/C)"
            )
        return out

    def _draw_seed(self) -> int | None:
        replay_rng = self.training and self.preserve_rng_state is not False
        return int(torch.randint(0, 2**62, ())) if replay_rng else None

    def _check_input(self, x: Tensor, name: str) -> None:
        if not isinstance(x, Tensor) or x.dim() != 2:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name} must have shape (num_nodes, channels), got {shape}")
        if x.size(-1) % self.num_groups != 0:
            raise ValueError(
                f"GroupReversible splits the channels into num_groups="
                f"{self.num_groups} groups, but {x.size(-1)} channels are "
                f"not divisible by {self.num_groups}"
            )

    def extra_repr(self) -> str:
        return f"num_groups={self.num_groups}, memory_efficient={self.memory_efficient}"
