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

import itertools
import math
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .checks import positive_int

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
        stop_mode (str): ``"rel"`` or ``"abs"`` (see the module docstring).
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


# --------------------------------------------------------------------------- #
# The driver: checks, the flattened map, residuals, the best iterate, the report.
# Each solver below supplies only its update rule z_k, f(z_k) -> z_{k+1}.
# --------------------------------------------------------------------------- #

UpdateRule = Callable[[Tensor, Tensor], Tensor]


def _positive_number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _check_common(f, z0, tol, max_iter, stop_mode) -> None:
    if not callable(f):
        raise ValueError(f"f must be callable (z -> f(z)), got {type(f).__name__}")
    if not isinstance(z0, Tensor):
        raise ValueError(f"z0 must be a torch.Tensor, got {type(z0).__name__}")
    if not z0.is_floating_point():
        raise ValueError(f"z0 must be a floating point tensor, got dtype {z0.dtype}")
    if z0.numel() == 0:
        raise ValueError(f"z0 must have at least one element, got shape {tuple(z0.shape)}")
    _positive_number("tol", tol)
    positive_int("max_iter", max_iter)
    if stop_mode not in _STOP_MODES:
        raise ValueError(f"stop_mode must be one of {_STOP_MODES}, got {stop_mode!r}")


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


def _solve(
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


# --------------------------------------------------------------------------- #
# The solvers: options, then the update rule.
# --------------------------------------------------------------------------- #


def fixed_point_iteration(
    f: Callable[[Tensor], Tensor],
    z0: Tensor,
    tol: float = 1e-5,
    max_iter: int = 50,
    stop_mode: str = "rel",
    raise_on_failure: bool = False,
    context: str | None = None,
) -> tuple[Tensor, SolverInfo]:
    r"""Plain fixed-point (Picard) iteration.

    .. math::
        z_{k+1} = f(z_k)

    It converges linearly, with rate the Lipschitz constant of :math:`f` (for a
    linear map, its spectral radius), so a rate of :math:`0.99` needs up to
    :math:`\ln(\text{tol}) / \ln(0.99) \approx 100 \ln(1/\text{tol})` iterations.

    Args:
        f (callable): The map :math:`f`; returns a tensor shaped like its input.
        z0 (torch.Tensor): Initial guess :math:`z_0`, any shape.
        tol (float, optional): Stop when the residual is below ``tol``.
            (default: :obj:`1e-5`)
        max_iter (int, optional): Maximum number of evaluations of ``f``.
            (default: :obj:`50`)
        stop_mode (str, optional): ``"rel"`` or ``"abs"`` residual (see the module
            docstring). (default: :obj:`"rel"`)
        raise_on_failure (bool, optional): Raise :class:`ConvergenceError` instead
            of warning when ``tol`` is not reached. (default: :obj:`False`)
        context (str, optional): Prefix for the failure message, e.g. which layer
            called the solver. (default: :obj:`None`)

    Returns:
        (torch.Tensor, SolverInfo): The fixed point estimate (shape of ``z0``) and
        the iteration record.
    """
    _check_common(f, z0, tol, max_iter, stop_mode)

    def update(z: Tensor, fz: Tensor) -> Tensor:
        return fz  # z_{k+1} = f(z_k)

    return _solve(
        "fixed_point_iteration", update, f, z0, tol, max_iter, stop_mode, raise_on_failure, context
    )


def anderson(
    f: Callable[[Tensor], Tensor],
    z0: Tensor,
    tol: float = 1e-5,
    max_iter: int = 50,
    m: int = 5,
    beta: float = 1.0,
    lam: float = 1e-4,
    stop_mode: str = "rel",
    raise_on_failure: bool = False,
    context: str | None = None,
) -> tuple[Tensor, SolverInfo]:
    r"""Anderson acceleration: mix the last :math:`m` iterates so that the mixed
    residual is as small as possible.

    With residuals :math:`g_i = f(z_i) - z_i` of the last :math:`n = \min(k+1, m)`
    iterates, stacked as the rows of :math:`G \in \mathbb{R}^{n \times d}`,

    .. math::
        \alpha = \operatorname*{arg\,min}_{\mathbf{1}^\top \alpha = 1}
            \lVert G^\top \alpha \rVert^2 + \lambda' \lVert \alpha \rVert^2
        = \frac{H^{-1} \mathbf{1}}{\mathbf{1}^\top H^{-1} \mathbf{1}}, \qquad
        H = G G^\top + \lambda' I, \quad
        \lambda' = \lambda \max_i \lVert g_i \rVert^2,

    .. math::
        z_{k+1} = \beta \sum_i \alpha_i f(z_i) + (1 - \beta) \sum_i \alpha_i z_i .

    With :math:`m = 1` and :math:`\beta = 1` it is plain fixed-point iteration.

    Args:
        f, z0, tol, max_iter: as in :func:`fixed_point_iteration`.
        m (int, optional): Window: how many past iterates are mixed.
            (default: :obj:`5`)
        beta (float, optional): Mixing (damping) :math:`\beta \in (0, 1]`.
            (default: :obj:`1.0`)
        lam (float, optional): Tikhonov regularization :math:`\lambda > 0`,
            relative to the largest :math:`\lVert g_i \rVert^2` in the window so
            that it does not depend on the scale of :math:`z` (it bounds the
            condition number of :math:`H` by about :math:`1/\lambda`).
            (default: :obj:`1e-4`)
        stop_mode, raise_on_failure, context: as in :func:`fixed_point_iteration`.

    Returns:
        (torch.Tensor, SolverInfo): The fixed point estimate (shape of ``z0``) and
        the iteration record.
    """
    _check_common(f, z0, tol, max_iter, stop_mode)
    positive_int("m (the Anderson window)", m)
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 < beta <= 1:
        raise ValueError(f"beta (the mixing parameter) must be in (0, 1], got {beta!r}")
    _positive_number("lam (the regularization)", lam)
    zs, fzs = deque(maxlen=m), deque(maxlen=m)  # the window: z_i and f(z_i)

    def update(z: Tensor, fz: Tensor) -> Tensor:
        zs.append(z)
        fzs.append(fz)
        Z, FZ = torch.stack(tuple(zs)), torch.stack(tuple(fzs))  # (n, d) each
        G = FZ - Z  # rows g_i = f(z_i) - z_i
        # Gram matrix H = G G^T, H_ij = g_i . g_j (one matrix-vector product per
        # row: small matrix-matrix products can stall on busy multi-threaded CPUs)
        H = torch.stack([G @ g_i for g_i in G])
        # H <- H + lambda' I,  lambda' = lambda * max_i ||g_i||^2
        n = H.shape[0]
        H = H + lam * H.diagonal().max() * torch.eye(n, dtype=H.dtype, device=H.device)
        # alpha = H^{-1} 1 / (1^T H^{-1} 1)
        w = torch.linalg.solve(H, torch.ones(n, 1, dtype=H.dtype, device=H.device))
        alpha = (w / w.sum()).squeeze(1)
        # z_{k+1} = beta * sum_i alpha_i f(z_i) + (1 - beta) * sum_i alpha_i z_i
        return beta * (alpha @ FZ) + (1 - beta) * (alpha @ Z)

    return _solve("anderson", update, f, z0, tol, max_iter, stop_mode, raise_on_failure, context)


def broyden(
    f: Callable[[Tensor], Tensor],
    z0: Tensor,
    tol: float = 1e-5,
    max_iter: int = 50,
    memory: int = 30,
    stop_mode: str = "rel",
    raise_on_failure: bool = False,
    context: str | None = None,
) -> tuple[Tensor, SolverInfo]:
    r"""Limited-memory Broyden's method on the root problem
    :math:`g(z) = f(z) - z = 0`.

    :math:`B_k \approx (\partial g / \partial z)^{-1}` starts at :math:`B_0 = -I`
    (so the first step is :math:`z_1 = f(z_0)`) and receives one rank-one "good
    Broyden" update per step, written with Sherman-Morrison directly for the
    inverse:

    .. math::
        z_{k+1} = z_k - B_k\, g(z_k), \qquad
        s = z_{k+1} - z_k, \quad y = g(z_{k+1}) - g(z_k),

    .. math::
        B_{k+1} = B_k + \frac{(s - B_k y)\, s^\top B_k}{s^\top B_k y} .

    :math:`B` is never formed: it is stored as
    :math:`B = -I + \sum_j u_j v_j^\top` with
    :math:`u = (s - B y) / (s^\top B y)` and :math:`v = B^\top s`. When ``memory``
    pairs are stored, all are dropped and :math:`B` restarts from :math:`-I`
    (dropping only the oldest pair would leave the others inconsistent), so storage
    is :math:`O(\text{memory} \cdot d)`. There is no line search, so on a strongly
    nonlinear :math:`f` Broyden may fail where Anderson succeeds.

    Args:
        f, z0, tol, max_iter: as in :func:`fixed_point_iteration`.
        memory (int, optional): Number of rank-one updates kept before a restart.
            (default: :obj:`30`)
        stop_mode, raise_on_failure, context: as in :func:`fixed_point_iteration`.

    Returns:
        (torch.Tensor, SolverInfo): The root estimate (shape of ``z0``) and the
        iteration record.
    """
    _check_common(f, z0, tol, max_iter, stop_mode)
    positive_int("memory (number of Broyden updates kept)", memory)
    us, vs = [], []  # rank-one updates u_j, v_j
    last = {}  # z_k, g(z_k) and the step s_k, for the update once g(z_{k+1}) is known

    def B(x: Tensor) -> Tensor:  # B x = -x + sum_j u_j (v_j^T x)
        out = -x
        for u, v in zip(us, vs):
            out = out + u * (v @ x)
        return out

    def B_T(x: Tensor) -> Tensor:  # B^T x = -x + sum_j v_j (u_j^T x)
        out = -x
        for u, v in zip(us, vs):
            out = out + v * (u @ x)
        return out

    def update(z: Tensor, fz: Tensor) -> Tensor:
        g = fz - z  # g(z) = f(z) - z
        if last:  # the previous step s and y = g(z_k) - g(z_{k-1}) update B
            s, y = last["s"], g - last["g"]
            if len(us) == memory:  # memory full: restart from B = -I
                us.clear()
                vs.clear()
            # good Broyden:  B <- B + (s - B y)(s^T B) / (s^T B y)
            v = B_T(s)  # (s^T B)^T
            denom = v @ y
            if torch.isfinite(denom) and denom.abs() > torch.finfo(denom.dtype).tiny:
                us.append((s - B(y)) / denom)
                vs.append(v)
        s = -B(g)  # quasi-Newton step  s = -B g(z_k)
        last.update(s=s, g=g)
        return z + s

    return _solve("broyden", update, f, z0, tol, max_iter, stop_mode, raise_on_failure, context)


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
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {sorted(SOLVERS)} or a callable, got {solver!r}")
    return SOLVERS[solver]
