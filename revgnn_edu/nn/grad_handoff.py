r"""Gradients of arguments shared by stacked reversible couplings, summed in place.

Every coupling of a RevGNN receives the same edge features :math:`U`. With ordinary
autograd each coupling's backward returns its own :math:`\partial L / \partial U` and the
engine adds them up; each of those is an :math:`E \times D` tensor (253 MB on an
ogbn-proteins part at :math:`D = 80`). Here a coupling instead *hands its gradient down*
to the coupling below (which reads the same tensor and runs next in the backward pass),
and that coupling adds its own gradient to it in place, so that at most two such
tensors are alive at a time: the running sum and the newest term.
:class:`~revgnn_edu.nn.reversible.GroupReversible` uses these helpers.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

__all__ = ["accumulate", "PendingGradients", "shared_positions"]


def accumulate(acc: Tensor | None, owned: bool, g: Tensor | None) -> tuple[Tensor | None, bool]:
    """``acc + g`` for gradient accumulation; returns the sum and whether it is *owned*
    (a buffer allocated here, which nothing else reads). The sum is taken in place in an
    owned buffer; the first gradient is copied into one (a gradient returned by autograd
    may be shared, so it is never written to)."""
    if g is None:
        return acc, owned
    if acc is None:
        return g.clone(), True
    if owned:
        return acc.add_(g), True
    return acc + g, True


def shared_positions(tensors: Sequence[Tensor], below: Sequence[int | None]) -> dict[int, int]:
    """Which of ``tensors`` (that require grad) the coupling below also received, as
    ``{position here: position there}``; ``below`` holds that coupling's argument ids."""
    below = list(below)
    return {
        k: below.index(id(t)) for k, t in enumerate(tensors) if t.requires_grad and id(t) in below
    }


class PendingGradients:
    """Gradients handed down to one coupling by the coupling above, for one backward
    pass (graph task) only: argument position -> (task id, gradient, owned)."""

    def __init__(self):
        self._pending: dict[int, tuple[int, Tensor, bool]] = {}

    def hand_down(self, k: int, task: int, grad: Tensor, owned: bool) -> None:
        """Add ``grad`` to the pending gradient of argument ``k``."""
        old = self._pending.get(k)
        if old is not None and old[0] == task:
            grad, owned = accumulate(old[1], old[2], grad)
        self._pending[k] = (task, grad, owned)

    def take(self, task: int) -> dict[int, tuple[Tensor, bool]]:
        """The gradients handed down in backward pass ``task``, removed."""
        pending, self._pending = self._pending, {}
        return {k: (g, owned) for k, (t, g, owned) in pending.items() if t == task}
