"""Fixed-point solvers: find :math:`z^\\star = f(z^\\star)` without storing a graph.

Three solvers share one calling convention,

.. code-block:: python

    z_star, info = solver(f, z0, tol=1e-5, max_iter=50, **options)

where ``f`` maps a tensor to a tensor of the same shape and ``z0`` may have any
shape (the solvers flatten it into one vector internally).

* :func:`fixed_point_iteration`: :math:`z_{k+1} = f(z_k)`.
* :func:`anderson`: mixes the last ``m`` iterates to cancel the residual.
* :func:`broyden`: quasi-Newton root finding on :math:`g(z) = f(z) - z` with a
  limited-memory "good Broyden" inverse Jacobian.

**Iterations and residuals.** One iteration is one evaluation of ``f``. At the
iterate :math:`z_k` the solvers record the residual

.. math::
    r_k = \\frac{\\lVert f(z_k) - z_k \\rVert}{\\lVert f(z_k) \\rVert + \\epsilon}
    \\quad (\\texttt{stop_mode="rel"}, default), \\qquad
    r_k = \\lVert f(z_k) - z_k \\rVert \\quad (\\texttt{stop_mode="abs"}),

with :math:`\\epsilon = 10^{-12}`, and stop as soon as :math:`r_k <` ``tol``. The
returned tensor is the iterate whose residual was recorded (the one with the
smallest residual when the solver fails), so ``info.residual`` describes it.

**Failure is never silent.** A solver that stops without reaching ``tol`` emits a
:class:`ConvergenceWarning`, or raises a :class:`ConvergenceError` when called
with ``raise_on_failure=True``. Each warning ends with its number in this process
(``[warning 3]``), so Python's default filter, which shows a given message only once
per code location, shows every failure.

**No autograd graph.** The solvers run under :func:`torch.no_grad`, so memory does
not grow with the number of iterations. Gradients through a fixed point come from
implicit differentiation (:mod:`revgnn_edu.nn.implicit`).
"""

from __future__ import annotations

from collections.abc import Callable

from ..checks import one_of
from .driver import ConvergenceError, ConvergenceWarning, SolverInfo
from .methods import anderson, broyden, fixed_point_iteration

__all__ = [
    "ConvergenceWarning",
    "ConvergenceError",
    "SolverInfo",
    "fixed_point_iteration",
    "anderson",
    "broyden",
    "SOLVERS",
    "get_solver",
]

SOLVERS: dict[str, Callable] = {
    "fixed_point_iteration": fixed_point_iteration,
    "anderson": anderson,
    "broyden": broyden,
}


def get_solver(solver: str | Callable) -> Callable:
    """Return the solver named ``solver`` (a key of :data:`SOLVERS`), or ``solver``
    itself if it is already callable.

    Args:
        solver (str or callable): ``"fixed_point_iteration"``, ``"anderson"``,
            ``"broyden"``, or a function with the same signature.

    Returns:
        callable: ``solver(f, z0, tol=..., max_iter=..., **options) -> (z, info)``.
    """
    if callable(solver):
        return solver
    return SOLVERS[one_of("solver", solver, SOLVERS, " or a callable")]
