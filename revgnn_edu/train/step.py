"""One training step of the paper's recipe: BCE over the training nodes of each part,
gradients accumulated part by part, gradient-norm clipping, one Adam step."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from . import distributed as D

__all__ = [
    "NonFiniteLossError",
    "make_forward",
    "part_loss",
    "accumulate_gradients",
    "clip_and_step",
    "training_step",
]


class NonFiniteLossError(FloatingPointError):
    """Raised when the training loss (or an evaluation's prediction) is NaN or infinite."""


def make_forward(model, x: Tensor, device: torch.device, amp: bool):
    """``forward(subgraph)``: the model's logits on one subgraph.

    Slices the node inputs ``x`` to the subgraph's nodes, moves everything to ``device``
    and runs under bfloat16 autocast when ``amp``; returns float32 logits.
    """

    def forward(sub):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            return model(
                x[sub.node_ids].to(device), sub.edge_index.to(device), sub.edge_attr.to(device)
            ).float()

    return forward


def part_loss(logits: Tensor, sub, train_mask: Tensor, y: Tensor, device) -> Tensor:
    r"""Mean BCE-with-logits over the training nodes of one part (over all 112 tasks).

    .. math::
        \mathcal{L}_p = \frac{1}{|V_p^{\text{train}}| \, T} \sum_{i \in V_p^{\text{train}}}
        \sum_{t=1}^{T} \mathrm{BCE}(z_{it}, y_{it})

    A part without training nodes gives zero, still attached to the graph.
    """
    nodes = train_mask[sub.node_ids]
    target = y[sub.node_ids]
    if bool(nodes.all()):
        return F.binary_cross_entropy_with_logits(logits, target.to(device))
    if not bool(nodes.any()):
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits[nodes.to(device)], target[nodes].to(device))


def accumulate_gradients(forward, subgraphs, train_mask: Tensor, y: Tensor, device) -> float:
    """Backpropagate the mean of the per-part losses, one part at a time (so memory is
    that of one part); return that mean, or NaN (before any backward pass of the
    offending part) when a loss is not finite on some process."""
    total = 0.0
    for sub in subgraphs:
        loss = part_loss(forward(sub), sub, train_mask, y, device)
        if not D.all_finite(loss):
            return math.nan
        (loss / len(subgraphs)).backward()
        total += loss.item() / len(subgraphs)
    return total


def clip_and_step(model, optimizer, clip: float) -> None:
    """Clip the gradient norm of ``model``'s parameters to ``clip``, then step."""
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()


def training_step(
    model,
    optimizer,
    forward,
    subgraphs,
    train_mask: Tensor,
    y: Tensor,
    clip: float,
    device: torch.device,
) -> float:
    """One optimizer step on the mean of the per-part losses of ``subgraphs``.

    Each part's loss is :func:`part_loss`. Parts are backpropagated one at a time, so
    memory is that of one part. Under DistributedDataParallel each process passes its
    own part and the gradients are averaged over processes, which is the same step as
    one process passing all those parts. Returns the mean loss; a non-finite loss skips
    the update.
    """
    optimizer.zero_grad(set_to_none=True)
    loss = accumulate_gradients(forward, subgraphs, train_mask, y, device)
    if math.isfinite(loss):
        clip_and_step(model, optimizer, clip)
    return loss
