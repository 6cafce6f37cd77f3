"""The autograd function behind :class:`~revgnn_edu.nn.GroupReversible`.

How the memory is given back, safely. Between two layers the output :math:`Y` of layer
:math:`l` is kept in a small *slot* (owned by layer :math:`l`'s autograd node). When
layer :math:`l+1` consumes :math:`Y` it empties that slot, so :math:`Y` is freed as
soon as the caller drops its own reference (``h = layer(h)`` does). In backward, layer
:math:`l+1` rebuilds :math:`Y` and puts it back into the slot for layer :math:`l`. No
storage is ever freed under a tensor someone can still read (PyG's ``GroupAddRev``
frees it with ``untyped_storage().resize_(0)``, and reading the freed tensor crashes
the interpreter); a tensor the caller keeps simply stays alive and valid.

What the backward pass re-runs, exactly. Each forward pass hands its own autograd node
a :class:`_Pass`: the blocks' training flags and :class:`~revgnn_edu.nn.SharedDropout`
masks (:mod:`revgnn_edu.nn.recompute`) and, in training mode, a seed under which each
block draws from the default random generator, plus the state of every
``torch.Generator`` the blocks hold as attributes or receive as arguments, so the
recomputation is the same function even after other forward passes (gradient
accumulation, a second graph, an evaluation pass) and without updating module buffers
(BatchNorm statistics) a second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ._reversible_state import _autocast_state
from .recompute import ForwardState, replay

SLOT = "_revgnn_slot"  # the attribute on a coupling's output that points to its slot


@dataclass
class _Pass:
    """What the backward pass of one forward pass needs to re-run its blocks."""

    seed: int | None  # the default generator's seed of block i is seed + i
    state: ForwardState  # training flags and shared dropout masks
    template: tuple  # the extra arguments, with None in place of each tensor
    positions: tuple[int, ...]  # where the tensors go in the template
    generators: list[list[torch.Generator]]  # block i's own generators ...
    generator_states: list[list[Tensor]]  # ... and their states before block i ran
    # tensor argument k is argument handoff[k] of the coupling below (whose output is X):
    # its gradient is handed down to that coupling instead of returned (see backward)
    handoff: dict[int, int]
    lower_node: Any  # the autograd node of the coupling below, or None

    def args(self, tensors: Sequence[Tensor]) -> tuple:
        args = list(self.template)
        for k, t in zip(self.positions, tensors):
            args[k] = t
        return tuple(args)


class _ReversibleFunction(torch.autograd.Function):
    """Runs a :class:`GroupReversible` coupling without recording its activations.

    Inputs: the coupling, the input and output slots, the forward pass's record
    (:class:`_Pass`), then tensors: :math:`X`, the tensors among the extra arguments,
    and the blocks' parameters."""

    @staticmethod
    def forward(ctx, coupling, slot_in, slot_out, run, x, *tensors):
        num_args = len(run.positions)
        # Autograd records nothing inside forward: the blocks' activations die here.
        y = coupling._couple(x, run.args(tensors[:num_args]), run.seed, run)
        slot_out.keep(y)  # keep Y (and only Y) to rebuild X in backward
        if slot_in is not None:  # X is the previous coupling's output: stop keeping it
            slot_in.take_over(x)
        ctx.coupling, ctx.run, ctx.params = coupling, run, tensors[num_args:]
        ctx.slot_in, ctx.slot_out = slot_in, slot_out
        ctx.autocast = _autocast_state(x.device.type)  # recompute f_i in the same precision
        # The extra arguments are saved (no copy): autograd checks on unpacking that they
        # were not modified in place, and releases them after a backward pass unless
        # retain_graph=True (a second backward raises "backward through the graph a
        # second time").
        ctx.save_for_backward(*tensors[:num_args])
        return y

    @staticmethod
    @once_differentiable  # backward evaluates the blocks with their own small graphs
    def backward(ctx, grad_y):
        saved = ctx.saved_tensors
        needs = ctx.needs_input_grad[5 : 5 + len(saved)]
        # an argument that needs a gradient becomes a leaf of the recomputed graph
        tensors = [t.detach().requires_grad_() if n else t for t, n in zip(saved, needs)]
        positions = [k for k, n in enumerate(needs) if n]
        leaves = [tensors[k] for k in positions]
        # gradients of shared arguments (edge features) that the couplings above handed
        # down: this coupling adds its own to them in place
        task = torch._C._current_graph_task_id()
        pending = ctx.slot_out.pending.take(task)
        y = ctx.slot_out.get()
        # re-run f_i as in this forward (flags, masks), leaving the buffers untouched
        with torch.autocast(**ctx.autocast), replay(ctx.run.state, keep_buffers=True):
            x, grad_x, grad_leaves, grad_params = ctx.coupling._rebuild_and_backprop(
                y,
                grad_y,
                ctx.run.args(tensors),
                leaves,
                ctx.run,
                ctx.params,
                [pending.get(k, (None, False)) for k in positions],
            )
        if ctx.slot_in is not None:  # hand the rebuilt X to the layer that produced it
            ctx.slot_in.refill(x)
        if ctx.slot_out.handed_over:  # Y was rebuilt for us by the next layer: free it
            ctx.slot_out.tensor = None
        grad_x = grad_x if ctx.needs_input_grad[4] else None
        grad_args = [None] * len(needs)
        lower = ctx.run.lower_node
        hand_down = lower is not None and torch._C._will_engine_execute_node(lower)
        for k, (g, owned) in zip(positions, grad_leaves):
            if hand_down and k in ctx.run.handoff and g is not None:
                # the coupling below reads the same tensor and runs later in this pass:
                # it adds its gradient to this one, so autograd never holds two
                ctx.slot_in.pending.hand_down(ctx.run.handoff[k], task, g, owned)
            else:
                grad_args[k] = g
        return (None, None, None, None, grad_x, *grad_args, *grad_params)
