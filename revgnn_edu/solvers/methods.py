"""The three fixed-point solvers: each checks its options and gives
:func:`~revgnn_edu.solvers.driver.solve` its update rule (see :mod:`revgnn_edu.solvers`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import torch
from torch import Tensor

from ..checks import positive_int, positive_number
from .driver import SolverInfo, check_common, solve

__all__ = ["fixed_point_iteration", "anderson", "broyden"]


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
        stop_mode (str, optional): ``"rel"`` or ``"abs"`` residual (see
            :mod:`revgnn_edu.solvers`). (default: :obj:`"rel"`)
        raise_on_failure (bool, optional): Raise :class:`ConvergenceError` instead
            of warning when ``tol`` is not reached. (default: :obj:`False`)
        context (str, optional): Prefix for the failure message, e.g. which layer
            called the solver. (default: :obj:`None`)

    Returns:
        (torch.Tensor, SolverInfo): The fixed point estimate (shape of ``z0``) and
        the iteration record.
    """
    check_common(f, z0, tol, max_iter, stop_mode)

    def update(z: Tensor, fz: Tensor) -> Tensor:
        return fz  # z_{k+1} = f(z_k)

    return solve(
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
    check_common(f, z0, tol, max_iter, stop_mode)
    positive_int("m (the Anderson window)", m)
    positive_number("beta (the mixing parameter)", beta, upper=1)
    positive_number("lam (the regularization)", lam)
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

    return solve("anderson", update, f, z0, tol, max_iter, stop_mode, raise_on_failure, context)


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
    check_common(f, z0, tol, max_iter, stop_mode)
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

    return solve("broyden", update, f, z0, tol, max_iter, stop_mode, raise_on_failure, context)
