"""Grouped reversible connections, and the autograd function that makes them cheap.

A reversible layer's input can be computed from its output, so training does not have
to keep it: :class:`GroupReversible` runs its blocks without recording a graph, keeps
only its output, and in the backward pass rebuilds the input from the output, running
each block once more -- this time with gradients -- to backpropagate through it. In a
stack of :math:`L` layers, each layer's output is the next layer's input, so only one
:math:`N \\times D` tensor per stack has to survive the forward pass: activation memory
is :math:`O(ND)` instead of :math:`O(LND)`.

Every tensor a block reads must reach the backward pass. The layer's extra arguments
(``edge_index``, ``edge_attr``, any other tensor: ``layer(x, *args)`` calls
``block(x_i, *args)``) are inputs of the autograd function, so each one that requires
grad receives its gradient, and an in-place change to one of them before backward
raises autograd's own error. A tensor that requires grad but reaches a block some other
way (captured in a closure, stored as a plain attribute) would silently get no gradient:
the backward pass inspects each recomputed block's graph and refuses it. How the memory
is handed from layer to layer, and what the backward pass replays (dropout masks, random
generators, training flags), is described in :mod:`revgnn_edu.nn._reversible_function`.
The backward pass is first-order: ``create_graph=True`` gives correct first derivatives,
and differentiating them again raises PyTorch's ``once_differentiable`` error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..checks import check_shape, group_width
from ._reversible_function import SLOT, _Pass, _ReversibleFunction
from ._reversible_state import (
    _add,
    _generators_of,
    _parameters_of,
    _replayed_call,
    _Slot,
    _sum,
    _trim,
    _undeclared_leaf,
)
from .blocks import check_edge_index, reset_parameters_of
from .grad_handoff import accumulate, shared_positions
from .recompute import capture

__all__ = ["GroupReversible"]

BlockSpec = Sequence[nn.Module] | Callable[[int], nn.Module]


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

    **Extra inputs, the PyG way.** ``layer(x, *args)`` calls every block as
    ``block(x_i, *args)``, without the trailing :obj:`None` s of ``args``:
    ``layer(x, edge_index)`` and ``layer(x, edge_index, None)`` call
    ``block(x_i, edge_index)``, ``layer(x, edge_index, edge_attr)`` calls
    ``block(x_i, edge_index, edge_attr)``, and ``layer(x, edge_index, None, h0)`` calls
    ``block(x_i, edge_index, None, h0)``; :meth:`inverse` takes the same ``args``.
    Every tensor among ``args`` (dense or sparse, e.g. a learnable
    ``torch.sparse_coo_tensor`` adjacency passed as ``edge_index``; integer or
    floating) is an input of the autograd function, so each one that requires grad
    receives its gradient, also when it depends on ``x``. A dense integer
    ``edge_index`` (the first argument) must be ``torch.long``: int32 indices give NaN
    gradients in PyTorch's CPU backward of ``scatter_reduce`` and are refused.

    **What the memory-saving backward pass refuses, rather than get wrong.**

    - A block that reads a tensor requiring grad which it was not given (captured in a
      closure, stored as a plain attribute, or a parameter of a module outside the
      block that the block does not list in ``shared_parameters()``): its gradient
      would be lost. Backward inspects each recomputed block's autograd graph and raises,
      naming the block; pass such a tensor as an extra argument instead.
    - Random numbers from a ``torch.Generator`` the block neither holds as an
      attribute (of itself or a submodule) nor receives as an argument: they cannot be
      replayed. This is checked on the first backward pass of each block object.
    - Second-order gradients (the backward pass is ``once_differentiable``).

    **torch.compile.** Compiling a model that contains this layer is correct: the
    memory-saving path is excluded from compilation (a graph break, it runs eagerly,
    because a compiled forward would draw its dropout masks from the compiler's random
    numbers, which the recomputation cannot replay). To speed up the blocks, compile
    the blocks themselves (``GroupReversible([torch.compile(b) for b in blocks])``):
    their random numbers are replayed.

    **Mixed precision.** Under ``torch.autocast`` the backward pass recomputes the
    blocks in the forward pass's precision, so each rebuilt input carries that
    precision's rounding and passes it on to the layers below: the gradients lose more
    precision than ordinary autograd's, the more so the deeper the stack (measured in
    the README, "Mixed precision and reversible gradients").

    Args:
        blocks (list of torch.nn.Module or callable): the blocks :math:`f_1, \ldots,
            f_C`, each with its own weights, mapping :math:`(N, D/C)` to
            :math:`(N, D/C)` and called as ``block(x_i, *args)`` (see above); or a
            factory ``i -> block`` (then ``num_groups`` is required).
        num_groups (int, optional): the number of groups :math:`C \ge 2`; must equal
            ``len(blocks)`` when both are given. (default: :obj:`None`)
        memory_efficient (bool, optional): if :obj:`False`, run the same computation
            with ordinary autograd (keeps every activation; a reference for tests).
            (default: :obj:`True`)
        preserve_rng_state (bool, optional): in training mode, replay each block's
            random numbers when it is recomputed in backward: each block draws from the
            default generator under its own seed (drawn once per forward pass), so
            :class:`torch.nn.Dropout` and functional dropout as in
            ``GATConv(dropout=...)`` repeat exactly, and every ``torch.Generator`` the
            block holds as an attribute or receives as an argument is put back in the
            state it had in the forward pass. Set it to :obj:`False` only for blocks
            that draw no random numbers (a :class:`~revgnn_edu.nn.SharedDropout` needs
            no replay), to save the seeding. :obj:`None` means :obj:`True`.
            (default: :obj:`True`)

    Shapes:
        - **input:** node features :math:`(N, D)`, then the blocks' extra arguments,
          usually edge_index :math:`(2, E)` and edge_attr :math:`(E, F_e)` (optional;
          every block gets all of it, as in the official code -- PyG's
          ``GroupAddRev`` splits it into groups when :math:`F_e = D`)
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
    def forward(self, x: Tensor, *args: Any) -> Tensor:
        self._check_input(x, "x")
        args = self._check_args(args)
        params = _parameters_of(self.blocks)
        needs_graph = torch.is_grad_enabled() and (
            x.requires_grad
            or bool(params)
            or any(isinstance(a, Tensor) and a.requires_grad for a in args)
        )
        if self.memory_efficient and needs_graph:
            return self._memory_saving_forward(x, args, params)
        return self._couple(x, args, self._draw_seed())  # ordinary autograd

    @torch.compiler.disable  # eager under torch.compile: its random numbers are replayed
    def _memory_saving_forward(self, x: Tensor, args: tuple, params: list) -> Tensor:
        seed = self._draw_seed()
        slot_in = getattr(x, SLOT, None)  # was x made by another coupling, unchanged?
        if slot_in is not None and slot_in.version != x._version:
            slot_in = None
        slot_out = _Slot()
        positions = tuple(k for k, a in enumerate(args) if isinstance(a, Tensor))
        tensors = [args[k] for k in positions]
        slot_out.arg_ids = tuple(id(t) if t.requires_grad else None for t in tensors)
        # arguments the coupling below also received (the same tensor object, alive in
        # its saved tensors): their gradients are handed down to it in backward
        handoff = shared_positions(tensors, slot_in.arg_ids if slot_in is not None else ())
        run = _Pass(
            seed=seed,
            state=capture(list(self.blocks)),  # flags and masks of this pass
            template=tuple(None if isinstance(a, Tensor) else a for a in args),
            positions=positions,
            generators=[_generators_of(b, args) if seed is not None else [] for b in self.blocks],
            generator_states=[],  # filled by _couple, block by block
            handoff=handoff,
            lower_node=x.grad_fn if handoff else None,
        )
        y = _ReversibleFunction.apply(self, slot_in, slot_out, run, x, *tensors, *params)
        setattr(y, SLOT, slot_out)  # lets the next coupling find and take over Y
        return y

    def inverse(self, y: Tensor, *args: Any) -> Tensor:
        """Compute :math:`X` from :math:`Y = \\mathrm{forward}(X, *args)` (exact up to
        rounding when the blocks are deterministic, e.g. in eval mode or with a fixed
        :class:`~revgnn_edu.nn.SharedDropout` mask)."""
        self._check_input(y, "y")
        args = self._check_args(args)
        C = self.num_groups
        ys = y.chunk(C, dim=-1)  # Y = [X'_1, ..., X'_C]
        xs: list[Tensor] = [y] * C
        for i in range(C - 1, 0, -1):  # X_i = X'_i - f_i(X'_{i-1}, A, U), i = C..2
            xs[i] = ys[i] - self._block(i, ys[i - 1], args, None)
        h = _sum(xs[1:])  # X'_0 = sum_{i>=2} X_i
        xs[0] = ys[0] - self._block(0, h, args, None)  # X_1 = X'_1 - f_1(X'_0)
        return torch.cat(xs, dim=-1)  # X = [X_1, ..., X_C]

    def _couple(self, x: Tensor, args: tuple, seed: int | None, run: _Pass | None = None):
        xs = x.chunk(self.num_groups, dim=-1)  # X = [X_1, ..., X_C]
        h = _sum(xs[1:])  # X'_0 = sum_{i>=2} X_i
        ys = []
        for i in range(self.num_groups):  # X'_i = f_i(X'_{i-1}, A, U) + X_i
            if run is not None:  # the state of block i's own generators, for backward
                run.generator_states.append([g.get_state() for g in run.generators[i]])
            h = xs[i] + self._block(i, h, args, seed)
            ys.append(h)
        return torch.cat(ys, dim=-1)  # Y = [X'_1, ..., X'_C]

    # -- backward: rebuild the input and backpropagate, one block evaluation each -----
    def _rebuild_and_backprop(
        self,
        y: Tensor,
        grad_y: Tensor,
        args: tuple,
        leaves: list[Tensor],
        run: _Pass,
        params,
        start: list[tuple[Tensor | None, bool]] | None = None,
    ):
        """Walk the groups from C down to 1. Group i's block input is known by then
        (X'_{i-1} is part of Y; X'_0 needs the X_2..X_C rebuilt before it), so one
        evaluation of f_i with a graph both rebuilds X_i and backpropagates:
        dL/dX_i = dL/dX'_i (+ dL/dX'_0 for i >= 2) and
        dL/dX'_{i-1} += (df_i/dX'_{i-1})^T dL/dX'_i. ``leaves`` are the tensors among
        ``args`` that need a gradient; it is summed over the blocks, starting from
        ``start`` (gradient, owned) and in place once the sum is a buffer of its own;
        returned as (gradient, owned) pairs."""
        C = self.num_groups
        ys = y.chunk(C, dim=-1)  # X'_1, ..., X'_C
        grad_ys = list(grad_y.chunk(C, dim=-1))  # dL/dX'_i, completed from i = C down
        x, grad_x = torch.empty_like(y), torch.empty_like(y)
        xs, grad_xs = x.chunk(C, dim=-1), grad_x.chunk(C, dim=-1)
        grad_leaves = list(start) if start is not None else [(None, False)] * len(leaves)
        grad_p = {}
        for i in range(C - 1, -1, -1):
            # the input of f_i: X'_{i-1} is part of Y; X'_0 = sum of the rebuilt X_2..X_C
            h = (ys[i - 1] if i > 0 else _sum(xs[1:])).detach().requires_grad_()
            block_params = _parameters_of([self.blocks[i]])
            inputs = [h, *leaves, *block_params]
            with torch.enable_grad():  # f_i(X'_{i-1}), with a graph, as in forward
                f = self._block(i, h, args, run.seed, run, replaying=True)
            self._check_declared(i, f, inputs)
            grads = (
                torch.autograd.grad(f, inputs, grad_ys[i].to(f.dtype), allow_unused=True)
                if f.requires_grad
                else [None] * len(inputs)
            )
            # (written after the grad call: for C = 2, h is a view of x)
            torch.sub(ys[i], f.detach(), out=xs[i])  # X_i = X'_i - f_i(X'_{i-1})
            grad_xs[i].copy_(grad_ys[i])  # X'_i = f_i + X_i  =>  dL/dX_i = dL/dX'_i
            grad_h = grads[0]
            if grad_h is not None and i > 0:  # X'_{i-1} also feeds f_i
                grad_ys[i - 1] = grad_ys[i - 1] + grad_h
            elif grad_h is not None:  # X'_0 = sum_{j>=2} X_j feeds f_1
                for g in grad_xs[1:]:
                    g.add_(grad_h)
            for k, g in enumerate(grads[1 : 1 + len(leaves)]):  # the args feed every block
                grad_leaves[k] = accumulate(*grad_leaves[k], g)
            for p, g in zip(block_params, grads[1 + len(leaves) :]):  # (maybe shared)
                grad_p[p] = _add(grad_p.get(p), g)
            del grads, grad_h, g  # (summed: not kept alive while the next block runs)
        return x, grad_x, grad_leaves, [grad_p.get(p) for p in params]

    def _check_declared(self, i: int, f: Tensor, inputs: list[Tensor]) -> None:
        """Raise if the recomputed f_i depends on a tensor requiring grad that is not
        among ``inputs`` (its gradient would be dropped)."""
        leaf = _undeclared_leaf(f, {id(t) for t in inputs})
        if leaf is None:
            return
        kind = "parameter" if isinstance(leaf, nn.Parameter) else "tensor"
        raise RuntimeError(
            f"GroupReversible: block {i} ({type(self.blocks[i]).__name__}) reads a tensor "
            f"that requires grad but was not given to it: its graph reaches a {kind} of "
            f"shape {tuple(leaf.shape)} that is neither one of its arguments nor one of its "
            "parameters (a tensor captured in a closure or stored as a plain attribute), so "
            "the memory-saving backward pass would drop its gradient. Pass the tensor as an "
            "extra argument -- layer(x, edge_index, edge_attr, t) calls "
            "block(x_i, edge_index, edge_attr, t) -- list a parameter of another module in "
            "block.shared_parameters(), or use memory_efficient=False."
        )

    # -- helpers -----------------------------------------------------------------------
    def _block(
        self, i: int, h: Tensor, args: tuple, seed, run: _Pass | None = None, replaying=False
    ) -> Tensor:
        block, name = self.blocks[i], type(self.blocks[i]).__name__
        if seed is None:
            out = block(h, *args)
        else:  # replay the same random numbers whenever f_i runs in this forward pass
            replay = (run.generators[i], run.generator_states[i]) if replaying else None
            out = _replayed_call(block, f"block {i} ({name})", h, args, seed + i, replay)
        if not isinstance(out, Tensor) or out.shape != h.shape:
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"block {i} ({name}) returned shape {shape} "
                f"for an input of shape {tuple(h.shape)}; every block of a "
                f"GroupReversible must map (N, D/C) to (N, D/C)"
            )
        return out

    def _draw_seed(self) -> int | None:
        replay_rng = self.training and self.preserve_rng_state is not False
        return int(torch.randint(0, 2**62, ())) if replay_rng else None

    def _check_input(self, x: Tensor, name: str) -> None:
        check_shape(name, x, ("N", "D"))
        group_width(x.size(-1), self.num_groups, f"{name}.size(-1)")

    @staticmethod
    def _check_args(args: tuple) -> tuple:
        """The extra arguments without trailing Nones; an integer edge_index must be long."""
        args = _trim(args)
        if args:
            check_edge_index(args[0], "GroupReversible")
        return args

    def extra_repr(self) -> str:
        return f"num_groups={self.num_groups}, memory_efficient={self.memory_efficient}"
