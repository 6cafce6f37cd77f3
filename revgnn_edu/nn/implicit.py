"""Deep-equilibrium (DEQ) layer: a fixed point with implicit gradients.

A DEQ layer replaces :math:`L` weight-tied layers :math:`z_{l+1} = f_\\theta(z_l, x)`
by their limit, the fixed point :math:`z^\\star = f_\\theta(z^\\star, x)`, found with a
solver from :mod:`revgnn_edu.solvers`. The forward solve keeps no autograd graph.
Gradients come from the implicit function theorem: for a loss :math:`\\mathcal{L}`,

.. math::
    \\frac{\\partial \\mathcal{L}}{\\partial \\theta}
    = u^\\top \\frac{\\partial f_\\theta(z^\\star, x)}{\\partial \\theta},
    \\qquad u = J^\\top u + \\frac{\\partial \\mathcal{L}}{\\partial z^\\star},
    \\qquad J = \\frac{\\partial f_\\theta(z^\\star, x)}{\\partial z^\\star},

and the same for :math:`x`. The adjoint :math:`u` is itself a fixed point, solved
with the same solvers using vector-Jacobian products :math:`u \\mapsto J^\\top u`.
Training memory is that of one application of :math:`f`, whatever the number of
solver iterations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

import torch
from torch import Tensor, nn

from ..solvers import SolverInfo, get_solver
from .blocks import reset_parameters_of
from .recompute import ForwardState, capture, replay

__all__ = ["DEQFixedPoint", "unrolled"]


class DEQFixedPoint(nn.Module):
    r"""Equilibrium layer: returns the fixed point of :math:`f` with gradients by
    implicit differentiation.

    .. math::
        z^\star = f_\theta(z^\star, x_1, \dots, x_k),
        \qquad
        u = J^\top u + \frac{\partial \mathcal{L}}{\partial z^\star},
        \quad J = \frac{\partial f_\theta}{\partial z}\Big|_{z^\star}

    The forward pass solves for :math:`z^\star` under :func:`torch.no_grad`, then
    applies :math:`f` once more with autograd on, :math:`z = f_\theta(z^\star, x)`,
    to attach the output to :math:`\theta` and :math:`x`. A backward hook on
    :math:`z` replaces the incoming gradient by the adjoint :math:`u`, so autograd
    then computes :math:`u^\top \partial f / \partial \theta` and
    :math:`u^\top \partial f / \partial x`.

    :math:`f` is called many times per forward pass and once more in the backward
    pass, so it must be deterministic between calls (draw a dropout mask once per
    forward pass and reuse it, as with shared dropout). The backward pass evaluates
    :math:`f` at the inputs and parameters of the forward pass, so changing one of them
    in place in between raises (as autograd does for saved tensors), and it is
    first-order: ``create_graph=True`` raises rather than give wrong second derivatives
    (differentiate :func:`unrolled` instead).

    Args:
        f (torch.nn.Module or callable): The layer, called as
            ``f(z, *inputs) -> z_next`` with ``z_next`` shaped like ``z``. Inputs
            that are not differentiable (``edge_index``, ints, ``None``) are passed
            through untouched.
        solver (str or callable, optional): Forward solver: ``"anderson"``,
            ``"broyden"``, ``"fixed_point_iteration"`` or a function with their
            signature (see :mod:`revgnn_edu.solvers`); it is called with ``tol``,
            ``max_iter``, ``raise_on_failure``, ``context`` and ``solver_kwargs``.
            (default: :obj:`"anderson"`)
        tol (float, optional): Forward tolerance. (default: :obj:`1e-4`)
        max_iter (int, optional): Forward maximum iterations. (default: :obj:`50`)
        solver_kwargs (dict, optional): Extra options of the forward solver, e.g.
            ``{"m": 5, "stop_mode": "abs"}``. (default: :obj:`None`)
        backward_solver (str or callable, optional): Adjoint solver.
            (default: :obj:`None`, same as ``solver``)
        backward_tol (float, optional): Adjoint tolerance.
            (default: :obj:`None`, same as ``tol``)
        backward_max_iter (int, optional): Adjoint maximum iterations.
            (default: :obj:`None`, same as ``max_iter``)
        backward_solver_kwargs (dict, optional): Extra options of the adjoint
            solver. (default: :obj:`None`, ``solver_kwargs`` if the adjoint uses
            the forward solver, else none)
        jacobian_free (bool, optional): Skip the adjoint solve and use
            :math:`u = \partial \mathcal{L} / \partial z^\star`, i.e.
            :math:`(I - J)^{-1} \approx I` (Jacobian-free backprop, Fung et al.
            2022): cheaper, but only an approximation of the gradient.
            (default: :obj:`False`)
        raise_on_failure (bool, optional): Raise
            :class:`~revgnn_edu.solvers.ConvergenceError` when the forward or the
            adjoint solve misses its tolerance, instead of a
            :class:`~revgnn_edu.solvers.ConvergenceWarning`. (default: :obj:`False`)

    Attributes:
        last_forward_info (SolverInfo): Record of the last forward solve.
        last_backward_info (SolverInfo): Record of the last adjoint solve.

    Shapes:
        - **input:** initial guess :math:`z_0` of any shape :math:`(*)` (no
          gradient flows to it: :math:`z^\star` does not depend on it), and the
          ``inputs`` that ``f`` expects.
        - **output:** :math:`z = f(z^\star, \dots)`, shape :math:`(*)`.
    """

    def __init__(
        self,
        f: nn.Module | Callable[..., Tensor],
        solver: str | Callable = "anderson",
        tol: float = 1e-4,
        max_iter: int = 50,
        solver_kwargs: dict[str, Any] | None = None,
        backward_solver: str | Callable | None = None,
        backward_tol: float | None = None,
        backward_max_iter: int | None = None,
        backward_solver_kwargs: dict[str, Any] | None = None,
        jacobian_free: bool = False,
        raise_on_failure: bool = False,
    ):
        super().__init__()
        if not callable(f):
            raise ValueError(
                f"f must be an nn.Module or a callable f(z, *inputs), got {type(f).__name__}"
            )
        self.f = f
        self.solver = get_solver(solver)
        self.tol = tol
        self.max_iter = max_iter
        self.solver_kwargs = dict(solver_kwargs or {})
        # the adjoint solve reuses the forward settings unless told otherwise
        same_solver = backward_solver is None
        self.backward_solver = self.solver if same_solver else get_solver(backward_solver)
        self.backward_tol = tol if backward_tol is None else backward_tol
        self.backward_max_iter = max_iter if backward_max_iter is None else backward_max_iter
        if backward_solver_kwargs is None:
            backward_solver_kwargs = self.solver_kwargs if same_solver else {}
        self.backward_solver_kwargs = dict(backward_solver_kwargs)
        self.jacobian_free = jacobian_free
        self.raise_on_failure = raise_on_failure
        self.last_forward_info: SolverInfo | None = None
        self.last_backward_info: SolverInfo | None = None

    def forward(self, z0: Tensor, *inputs: Any) -> Tensor:
        # z* = f(z*, x), solved without building a graph
        with torch.no_grad():
            z_star, self.last_forward_info = self.solver(
                lambda z: self.f(z, *inputs),
                z0.detach(),
                tol=self.tol,
                max_iter=self.max_iter,
                raise_on_failure=self.raise_on_failure,
                context="DEQFixedPoint forward solve",
                **self.solver_kwargs,
            )

        # z = f(z*, x): one differentiable step attaches z* to theta and x
        z = self.f(z_star, *inputs)

        if z.requires_grad and not self.jacobian_free:
            # this forward's training flags and dropout masks, for f in the adjoint
            state = capture(self.f) if isinstance(self.f, nn.Module) else None
            versions = self._versions(inputs)  # the adjoint re-reads inputs and weights
            # dL/dz arriving at z is replaced by the adjoint u = J^T u + dL/dz
            z.register_hook(lambda grad: self._adjoint(grad, z_star, inputs, state, versions))
        return z

    def reset_parameters(self) -> None:
        reset_parameters_of(self)

    def _versions(self, inputs: Sequence[Any]) -> list[tuple[str, Tensor, int]]:
        """(name, tensor, version counter) of every tensor input of f and of f's
        parameters, as they are now."""
        named = [(f"inputs[{k}] of f(z, *inputs)", t) for k, t in enumerate(inputs)]
        named = [(name, t) for name, t in named if isinstance(t, Tensor)]
        if isinstance(self.f, nn.Module):
            named += [(f"parameter {n!r} of f", p) for n, p in self.f.named_parameters()]
        return [(name, t, t._version) for name, t in named]

    def _adjoint(
        self,
        grad: Tensor | None,
        z_star: Tensor,
        inputs: Sequence[Any],
        state: ForwardState | None,
        versions: list[tuple[str, Tensor, int]],
    ) -> Tensor | None:
        """Solve :math:`u = J^\\top u + \\text{grad}` with :math:`J = \\partial f / \\partial z`
        at :math:`z^\\star`, by vector-Jacobian products."""
        if torch.is_grad_enabled():  # backward(create_graph=True): we would be first-order
            raise RuntimeError(
                "DEQFixedPoint: the implicit gradient is first-order: its adjoint is solved "
                "without a graph, so backward(create_graph=True) or autograd.grad(..., "
                "create_graph=True) would give wrong second derivatives. Differentiate an "
                "unrolled(...) body instead, or use jacobian_free=True (whose one step is "
                "ordinary autograd)."
            )
        for name, t, version in versions:
            if t._version != version:
                raise RuntimeError(
                    f"DEQFixedPoint: {name} (shape {tuple(t.shape)}, dtype {t.dtype}) was "
                    f"modified in place after the forward pass (version {version}, now "
                    f"{t._version}); the adjoint solve re-evaluates f at the fixed point with "
                    "the forward pass's inputs and weights, so the gradient would be wrong. "
                    "Change a clone (x = x.clone()) or change it after backward()."
                )
        if grad is None:  # an undefined incoming gradient (zero): the adjoint is zero too
            return None
        # a fresh copy of f(z*, x) with z* as a leaf gives u -> J^T u
        with torch.enable_grad(), replay(state) if state is not None else nullcontext():
            z_leaf = z_star.detach().requires_grad_()
            f_leaf = self.f(z_leaf, *inputs)

        def adjoint_map(u: Tensor) -> Tensor:
            # u -> J^T u + dL/dz*
            (JTu,) = torch.autograd.grad(f_leaf, z_leaf, u, retain_graph=True)
            return JTu + grad

        u, self.last_backward_info = self.backward_solver(
            adjoint_map,
            grad,
            tol=self.backward_tol,
            max_iter=self.backward_max_iter,
            raise_on_failure=self.raise_on_failure,
            context="DEQFixedPoint backward (adjoint) solve",
            **self.backward_solver_kwargs,
        )
        return u

    def extra_repr(self) -> str:
        name = getattr(self.solver, "__name__", type(self.solver).__name__)
        return f"solver={name}, tol={self.tol:g}, max_iter={self.max_iter}" + (
            ", jacobian_free=True" if self.jacobian_free else ""
        )


def unrolled(
    f: Callable[..., Tensor],
    z0: Tensor,
    inputs: Sequence[Any] | Tensor = (),
    steps: int = 30,
) -> Tensor:
    r"""Apply :math:`f` ``steps`` times with autograd on (backpropagation through
    the iterations, memory :math:`O(\text{steps})`).

    .. math::
        z_{k+1} = f(z_k, x_1, \dots, x_k), \qquad k = 0, \dots, \text{steps} - 1

    Used as the reference for implicit gradients, and to pretrain a DEQ with a
    few unrolled steps before switching to the fixed point.

    Args:
        f (callable): The layer, called as ``f(z, *inputs)``.
        z0 (torch.Tensor): Initial state :math:`z_0`.
        inputs (sequence or torch.Tensor, optional): Extra arguments of ``f``; a
            single tensor is treated as ``(tensor,)``. (default: :obj:`()`)
        steps (int, optional): Number of applications of ``f``. (default: :obj:`30`)

    Returns:
        torch.Tensor: :math:`z_{\text{steps}}`, shaped like ``z0``.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    z = z0
    for _ in range(steps):
        # z_{k+1} = f(z_k, x)
        z = f(z, *inputs)
    return z
