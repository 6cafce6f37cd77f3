"""Shared dropout: one Bernoulli mask per forward pass, reused by every layer.

A reversible layer rebuilds its input from its output during the backward pass, which
re-runs each block. Ordinary dropout would draw a new mask on the re-run, so the rebuilt
input and the gradients would be wrong. Drawing the mask once per forward pass and
reusing it everywhere (forward, reconstruction, recomputation) keeps the block a
deterministic function of its input, so the inverse is exact.

Also :func:`uniform_dropout`, ordinary dropout drawn with uniform numbers, which also
drops the stored entries of a sparse tensor (bag-of-words features, 1% non-zero).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..checks import probability

__all__ = ["dropout_mask", "SharedDropout", "uniform_dropout"]


def dropout_mask(x: Tensor, p: float) -> Tensor:
    r"""A scaled Bernoulli mask :math:`M = B / (1 - p)`, :math:`B_{ij} \sim
    \mathrm{Bernoulli}(1 - p)`, with the shape, dtype and device of ``x``.

    Args:
        x (torch.Tensor): a tensor to take the shape, dtype and device from.
        p (float): probability of zeroing an entry, in :math:`[0, 1)`.
    """
    p = probability("p", p)
    return torch.empty_like(x, memory_format=torch.contiguous_format).bernoulli_(1 - p).div_(1 - p)


def uniform_dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    r"""Dropout, :math:`X \odot [U \ge p] / (1 - p)` with :math:`U_{ij} \sim
    \mathcal{U}[0, 1)` drawn by ``torch.rand_like``: the distribution of
    :func:`torch.nn.functional.dropout` (a few times faster on CPU than its Bernoulli
    sampler). For a sparse COO or CSR tensor only the stored entries are drawn and
    dropped (the others are zero either way), and the result is sparse. The identity
    when not ``training`` or :math:`p = 0`.

    Args:
        x (torch.Tensor): the input, dense or sparse (COO or CSR).
        p (float): probability of zeroing an entry, in :math:`[0, 1)`.
        training (bool, optional): apply dropout. (default: :obj:`True`)

    Shapes:
        - **input:** any
        - **output:** the shape and layout of ``x``
    """
    p = probability("p", p)
    if not training or p == 0:
        return x
    if x.layout == torch.sparse_coo:
        x = x.coalesce()
        values = uniform_dropout(x.values(), p)
        return torch.sparse_coo_tensor(
            x.indices(), values, x.shape, is_coalesced=True, check_invariants=False
        )
    if x.layout == torch.sparse_csr:
        values = uniform_dropout(x.values(), p)
        return torch.sparse_csr_tensor(
            x.crow_indices(), x.col_indices(), values, x.shape, check_invariants=False
        )
    return x * (torch.rand_like(x) >= p).to(x.dtype).div_(1 - p)


class SharedDropout(nn.Module):
    r"""Dropout :math:`X \mapsto X \odot M` whose mask :math:`M` is drawn once per forward
    pass (by :meth:`resample` or :meth:`set_mask`) and reused by every call until the
    next draw.

    .. math::
        M = \frac{B}{1 - p}, \quad B_{ij} \sim \mathrm{Bernoulli}(1 - p)

    In evaluation mode, or with :math:`p = 0`, it is the identity. A memory-saving
    layer that recomputes its blocks in backward records the mask of each forward pass
    with that pass's autograd state (:mod:`revgnn_edu.nn.recompute`), so drawing a new
    mask does not change the gradients of an earlier forward pass.

    Args:
        p (float, optional): probability of zeroing an entry. (default: :obj:`0.5`)

    Shapes:
        - **input:** :math:`(N, D)`, the shape of the mask
        - **output:** :math:`(N, D)`
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = probability("p", p)
        self.mask: Tensor | None = None  # not a buffer: it lives for one forward pass

    @property
    def active(self) -> bool:
        """Whether :meth:`forward` multiplies by the mask (training mode and ``p > 0``)."""
        return self.training and self.p > 0

    def resample(self, x: Tensor) -> Tensor | None:
        """Draw a fresh mask shaped like ``x`` (or clear it when inactive); return it."""
        self.mask = dropout_mask(x, self.p) if self.active else None
        return self.mask

    def set_mask(self, mask: Tensor | None) -> None:
        """Use ``mask`` (e.g. one column block of a model-wide mask) until the next call."""
        if mask is not None and mask.requires_grad:
            raise ValueError("a dropout mask must not require grad")
        self.mask = mask

    def reset_parameters(self) -> None:
        """Forget the current mask (the module has no parameters)."""
        self.mask = None

    def forward(self, x: Tensor) -> Tensor:
        if not self.active:
            return x
        if self.mask is None:
            raise RuntimeError(
                "SharedDropout has no mask: call resample(x) or set_mask(m) "
                "once per forward pass before the layers use it"
            )
        if self.mask.shape != x.shape:
            raise ValueError(
                f"SharedDropout mask has shape {tuple(self.mask.shape)} but "
                f"the input has shape {tuple(x.shape)}; draw a new mask for "
                f"this graph with resample(x)"
            )
        return x * self.mask  # X ⊙ M, the same M in every layer and in backward

    def extra_repr(self) -> str:
        return f"p={self.p}"
