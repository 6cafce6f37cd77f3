"""DEQ-GNN: a GNN of infinite depth, whose training memory does not grow with iterations."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor

from ..checks import one_of, positive_int
from ..nn.blocks import ConvSpec
from ..nn.deq_block import DEQGraphBlock
from ..nn.implicit import DEQFixedPoint, unrolled
from ..solvers import SolverInfo
from .base import DeepGNN

__all__ = ["DEQGNN"]

MODES = ("implicit", "unrolled")
#: the keyword arguments of DEQFixedPoint that ``solver_options`` may set
SOLVER_OPTIONS = (
    "solver",
    "tol",
    "solver_kwargs",
    "backward_solver",
    "backward_tol",
    "backward_max_iter",
    "backward_solver_kwargs",
    "jacobian_free",
    "raise_on_failure",
)


def _solver_options(solver_options: dict[str, Any] | None, kwargs: dict) -> dict[str, Any]:
    """``solver_options``, checked, merged with the solver keywords given directly to
    DEQGNN (removed from ``kwargs``; a PendingDeprecationWarning names them)."""
    options = dict(solver_options or {})
    for name in options:
        one_of("solver_options key", name, SOLVER_OPTIONS, " (max_iter is num_layers)")
    given = {name: kwargs.pop(name) for name in SOLVER_OPTIONS if name in kwargs}
    if given:
        warnings.warn(
            f"DEQGNN({', '.join(f'{k}=...' for k in given)}): pass the solver's options as "
            f"solver_options={{{', '.join(repr(k) + ': ...' for k in given)}}}",
            PendingDeprecationWarning,
            stacklevel=3,
        )
        both = sorted(set(given) & set(options))
        if both:
            raise ValueError(f"DEQGNN got {both} both as keywords and in solver_options")
        options.update(given)
    return options


class DEQGNN(DeepGNN):
    r"""The deep equilibrium GNN of the `"Training Graph Neural Networks with 1000
    Layers" <https://arxiv.org/abs/2106.07476>`_ paper: the output of the body is the
    fixed point of one weight-tied graph block,

    .. math::
        Z^\star = f_\theta(Z^\star, \tilde X, A, U), \qquad \tilde X = H^{(0)},

    with :math:`f_\theta` the :class:`~revgnn_edu.nn.deq_block.DEQGraphBlock`, found by
    a fixed-point solver from :math:`Z_0 = 0` without storing a graph. Gradients come from
    implicit differentiation (:class:`~revgnn_edu.nn.implicit.DEQFixedPoint`), so
    training memory does not depend on the number of solver iterations.

    With ``mode="unrolled"`` the body is instead :math:`K` weight-tied steps
    :math:`Z_{k+1} = f_\theta(Z_k, \tilde X, A, U)` backpropagated through (memory
    :math:`O(KND)`): the paper's pretraining, which warm-starts :math:`\theta` before
    switching to ``mode="implicit"``.

    Args:
        in_channels, hidden_channels, out_channels: see
            :class:`~revgnn_edu.models.base.GNNBase`.
        num_layers (int): the iteration budget :math:`K`: ``max_iter`` of the forward
            solve (and of the adjoint solve unless ``solver_options`` sets
            ``backward_max_iter``). Setting ``model.num_layers`` later changes those
            limits at once.
        conv (str or callable, optional): the block's convs. (default: ``"gen"``)
        aggr (str, optional): GENConv's aggregation. (default: ``"max"``)
        solver_options (dict, optional): the options of
            :class:`~revgnn_edu.nn.implicit.DEQFixedPoint` other than ``max_iter``:
            ``solver`` (``"anderson"``, ``"broyden"``, ``"fixed_point_iteration"`` or
            a solver function; default ``"anderson"``), ``tol`` (forward tolerance on
            the relative residual; default ``1e-4``), ``solver_kwargs`` (e.g.
            ``{"m": 5}``), ``backward_solver``, ``backward_tol``,
            ``backward_max_iter``, ``backward_solver_kwargs``, ``jacobian_free`` and
            ``raise_on_failure`` (raise :class:`~revgnn_edu.solvers.ConvergenceError`
            instead of warning when a solve misses its tolerance).
            (default: :obj:`None`, all defaults)
        mode (str, optional): ``"implicit"`` or ``"unrolled"``. (default: ``"implicit"``)
        unrolled_steps (int, optional): :math:`K` in unrolled mode.
            (default: :obj:`None`, ``num_layers``)
        **kwargs: ``edge_dim``, ``dropout``, ``node_encoder``, see
            :class:`~revgnn_edu.models.base.DeepGNN`. The options of
            ``solver_options`` are still accepted here as keywords (``tol=1e-6``),
            with a :class:`PendingDeprecationWarning`.

    Attributes:
        last_forward_info (SolverInfo): the last forward solve's record:
            ``iterations`` (evaluations of :math:`f_\theta`), ``residual`` (of the
            returned iterate), ``residuals`` (one per iteration), ``converged``. A
            trainer reads it after each forward pass to log the solver; :obj:`None`
            before the first implicit forward pass.
        last_backward_info (SolverInfo): the same for the last adjoint solve, read
            after ``backward()``; :obj:`None` before the first one, and not updated by
            unrolled mode or ``jacobian_free=True`` (no adjoint solve).

    Shapes: as :class:`~revgnn_edu.models.base.DeepGNN`.
    """

    family = "DEQ-GNN"
    complexity = ("O(ND)", "O(D^2)")

    def __init__(
        self,
        *args,
        conv: ConvSpec = "gen",
        aggr: str = "max",
        solver_options: dict[str, Any] | None = None,
        mode: str = "implicit",
        unrolled_steps: int | None = None,
        **kwargs,
    ):
        options = _solver_options(solver_options, kwargs)
        super().__init__(*args, **kwargs)
        block = DEQGraphBlock(
            self.hidden_channels, conv, self.layer_edge_dim, dropout=self.dropout, aggr=aggr
        )
        self.deq = DEQFixedPoint(block, max_iter=self.num_layers, **options)
        self._backward_follows = "backward_max_iter" not in options  # adjoint limit = K too
        self.mode = mode
        self.unrolled_steps = unrolled_steps

    @property
    def num_layers(self) -> int:
        """The iteration budget :math:`K` (the solver's ``max_iter``)."""
        return self._num_layers

    @num_layers.setter
    def num_layers(self, value: int) -> None:
        self._num_layers = positive_int("num_layers", value)
        deq = self._modules.get("deq")
        if deq is not None:  # (none yet while DeepGNN.__init__ sets num_layers)
            deq.max_iter = value
            if self._backward_follows:
                deq.backward_max_iter = value

    @property
    def block(self) -> DEQGraphBlock:
        """The equilibrium map :math:`f_\\theta`."""
        return self.deq.f

    @property
    def mode(self) -> str:
        """``"implicit"`` (fixed point, implicit gradients) or ``"unrolled"``."""
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        self._mode = one_of("mode", value, MODES)

    @property
    def unrolled_steps(self) -> int:
        """:math:`K` in unrolled mode (``num_layers`` unless set)."""
        return self.num_layers if self._unrolled_steps is None else self._unrolled_steps

    @unrolled_steps.setter
    def unrolled_steps(self, value: int | None) -> None:
        self._unrolled_steps = None if value is None else positive_int("unrolled_steps", value)

    @property
    def last_forward_info(self) -> SolverInfo | None:
        """The last forward solve's record (iterations, residuals, converged)."""
        return self.deq.last_forward_info

    @property
    def last_backward_info(self) -> SolverInfo | None:
        """The last adjoint solve's record."""
        return self.deq.last_backward_info

    def body(self, h: Tensor, edge_index: Tensor, edge_attr: Tensor | None) -> Tensor:
        x_inj = h  # input injection X~ = H^(0)
        self.block.dropout.resample(h)  # one mask M for every evaluation of f
        z0 = torch.zeros_like(h)  # Z_0 = 0
        if self.mode == "unrolled":
            # Z_{k+1} = f(Z_k, X~, A, U), K steps, backpropagated through
            return unrolled(
                self.block, z0, (x_inj, edge_index, edge_attr), steps=self.unrolled_steps
            )
        # Z* = f(Z*, X~, A, U); dL/dtheta by implicit differentiation
        return self.deq(z0, x_inj, edge_index, edge_attr)

    def extra_repr(self) -> str:
        steps = f", unrolled_steps={self.unrolled_steps}" if self.mode == "unrolled" else ""
        return f"{super().extra_repr()}, mode={self.mode}{steps}"
