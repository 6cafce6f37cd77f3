"""What a block needs in order to run again, in backward, exactly as it ran in forward.

Memory-saving layers evaluate their blocks a second time during the backward pass: a
reversible coupling to rebuild its input, a DEQ layer to form its adjoint. That second
evaluation must compute the same function as the first, although other forward passes
(a second graph, gradient accumulation, an evaluation pass) may have run in between.
So each forward pass records, and hands to its own autograd node:

* every submodule's training flag (``model.eval()`` may have been called since), and
* every :class:`~revgnn_edu.nn.dropout.SharedDropout`'s mask (a later forward pass
  draws a new one, maybe for another number of nodes).

:func:`replay` puts them back for the re-evaluation and restores the present state
afterwards. With ``keep_buffers=True`` it also undoes the re-evaluation's writes to
module buffers (a BatchNorm's running statistics and ``num_batches_tracked``), so a
recomputed block updates them once per step, as in ordinary training. Random numbers
drawn inside a block (``nn.Dropout``, functional dropout) are replayed by seeding, see
:mod:`revgnn_edu.nn.reversible`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .dropout import SharedDropout

__all__ = ["ForwardState", "capture", "replay"]


@dataclass(frozen=True)
class ForwardState:
    """The training flags and shared dropout masks of one forward pass."""

    flags: tuple[tuple[nn.Module, bool], ...]
    masks: tuple[tuple[SharedDropout, Tensor | None], ...]


def capture(modules: nn.Module | list[nn.Module]) -> ForwardState:
    """Record the training flag of every submodule and the mask of every
    :class:`SharedDropout` in ``modules`` (a module, or a list of modules)."""
    roots = [modules] if isinstance(modules, nn.Module) else list(modules)
    subs = list(dict.fromkeys(m for root in roots for m in root.modules()))
    return ForwardState(
        flags=tuple((m, m.training) for m in subs),
        masks=tuple((m, m.mask) for m in subs if isinstance(m, SharedDropout)),
    )


@contextmanager
def replay(state: ForwardState, keep_buffers: bool = False) -> Iterator[None]:
    """Run the body with the recorded flags and masks; restore the present ones after.

    Args:
        state (ForwardState): what :func:`capture` recorded in the forward pass.
        keep_buffers (bool, optional): copy the modules' buffers back after the body,
            so that the re-evaluation leaves no trace in them. Only for bodies whose
            autograd graph is consumed inside the ``with`` block. (default: :obj:`False`)
    """
    now_flags = [(m, m.training) for m, _ in state.flags]
    now_masks = [(m, m.mask) for m, _ in state.masks]
    kept = (
        [(b, b.clone()) for m, _ in state.flags for b in m.buffers(recurse=False) if b is not None]
        if keep_buffers
        else []
    )
    try:
        for m, flag in state.flags:
            m.training = flag
        for m, mask in state.masks:
            m.mask = mask
        yield
    finally:
        for m, flag in now_flags:
            m.training = flag
        for m, mask in now_masks:
            m.mask = mask
        with torch.no_grad():
            for buf, value in kept:
                buf.copy_(value)
