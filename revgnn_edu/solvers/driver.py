r"""The driver every fixed-point solver shares: argument checks, the flattened map, the
residual, the best iterate, the report of a failure; and what a solver returns.

Each solver of :mod:`revgnn_edu.solvers.methods` supplies only its update rule
:math:`z_k, f(z_k) \mapsto z_{k+1}` to :func:`solve`.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..checks import float_tensor, is_callable, one_of, positive_int, positive_number

__all__ = [
    "ConvergenceWarning",
    "ConvergenceError",
    "SolverInfo",
    "UpdateRule",
    "check_common",
    "solve",
]

_EPS = 1e-12  # epsilon in the relative residual
_WARNED = itertools.count(1)  # numbers the warnings, so that no two messages are equal
_STOP_MODES = ("rel", "abs")


class ConvergenceWarning(UserWarning):
    """Warning emitted when a fixed-point solver stops before reaching ``tol``."""


class ConvergenceError(RuntimeError):
    """Error raised instead of :class:`ConvergenceWarning` when
    ``raise_on_failure=True``."""


@dataclass
class SolverInfo:
    """What a solver did: one residual per iteration (one evaluation of ``f``).

    Attributes:
        solver (str): Name of the solver.
        iterations (int): Number of evaluations of ``f``.
        residuals (list[float]): Residual :math:`r_k` of every iterate, in order;
            ``len(residuals) == iterations``.
        converged (bool): Whether some :math:`r_k <` ``tol``.
        tol (float): The requested tolerance.
        stop_mode (str): ``"rel"`` or ``"abs"`` (see :mod:`revgnn_edu.solvers`).
    """

    solver: str
    iterations: int = 0
    residuals: list[float] = field(default_factory=list)
    converged: bool = False
    tol: float = 0.0
    stop_mode: str = "rel"

    @property
    def residual(self) -> float:
        """Residual of the returned iterate (the smallest one recorded)."""
        finite = [r for r in self.residuals if math.isfinite(r)]
        return min(finite) if finite else float("nan")


UpdateRule = Callable[[Tensor, Tensor], Tensor]


def check_common(f, z0, tol, max_iter, stop_mode) -> None:
    """Check the arguments every solver takes (see :func:`~revgnn_edu.solvers.methods.
    fixed_point_iteration`)."""
    is_callable("f", f, "a callable z -> f(z)")
    float_tensor("z0", z0)
    positive_number("tol", tol)
    positive_int("max_iter", max_iter)
    one_of("stop_mode", stop_mode, _STOP_MODES)


def _flat_map(f: Callable[[Tensor], Tensor], shape: torch.Size) -> Callable[[Tensor], Tensor]:
    """Wrap ``f`` so that it maps flat vectors to flat vectors."""

    def f_flat(z: Tensor) -> Tensor:
        out = f(z.view(shape))
        if not isinstance(out, Tensor) or out.shape != shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"f must return a tensor of the shape of z0 {tuple(shape)}, got {got}")
        return out.reshape(-1)

    return f_flat


def _residual(fz: Tensor, z: Tensor, stop_mode: str) -> float:
    # r = ||f(z) - z||  or  ||f(z) - z|| / (||f(z)|| + eps)
    r = torch.linalg.vector_norm(fz - z)
    if stop_mode == "rel":
        r = r / (torch.linalg.vector_norm(fz) + _EPS)
    return float(r)


def _report(info: SolverInfo, raise_on_failure: bool, context: str | None) -> None:
    """Warn (or raise) when the solver stopped without reaching ``tol``."""
    if info.converged:
        return
    where = f"{context}: " if context else ""
    last = info.residuals[-1] if info.residuals else float("nan")
    reason = "diverged (non-finite residual)" if not math.isfinite(last) else "did not converge"
    msg = (
        f"{where}{info.solver} {reason} after {info.iterations} iterations: "
        f"best residual {info.residual:.3e} > tol {info.tol:.1e} (stop_mode={info.stop_mode!r}). "
        f"Increase max_iter, try another solver, or make f more contractive."
    )
    if raise_on_failure:
        raise ConvergenceError(msg)
    # Python's default filter shows a message once per code location: numbering the
    # warnings keeps identical failures (the same step repeated) from being hidden
    warnings.warn(f"{msg} [warning {next(_WARNED)}]", ConvergenceWarning, stacklevel=4)


def solve(
    name: str,
    update: UpdateRule,
    f: Callable[[Tensor], Tensor],
    z0: Tensor,
    tol: float,
    max_iter: int,
    stop_mode: str,
    raise_on_failure: bool,
    context: str | None,
) -> tuple[Tensor, SolverInfo]:
    """The iteration every solver shares: evaluate :math:`f(z_k)`, record :math:`r_k`,
    keep the best iterate, stop on ``tol``, a non-finite residual or ``max_iter``
    evaluations, otherwise ask ``update`` for :math:`z_{k+1}`; then report."""
    info = SolverInfo(name, tol=float(tol), stop_mode=stop_mode)
    with torch.no_grad():
        F = _flat_map(f, z0.shape)
        z = z0.detach().reshape(-1)
        fz = F(z)
        best_r, best_z = math.inf, z
        for k in range(max_iter):
            r = _residual(fz, z, stop_mode)
            info.residuals.append(r)
            if r < best_r:  # the returned iterate: the smallest residual so far
                best_r, best_z = r, z
            if r < tol:
                info.converged = True
                break
            if not math.isfinite(r) or k == max_iter - 1:
                break
            z = update(z, fz)  # z_{k+1}, the solver's own rule
            fz = F(z)
    info.iterations = len(info.residuals)
    _report(info, raise_on_failure, context)
    return best_z.view(z0.shape), info
