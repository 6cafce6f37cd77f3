"""Fixed-point solvers on linear maps whose fixed point is known in closed form."""

import warnings

import pytest
import torch

from revgnn_edu.solvers import (
    SOLVERS,
    ConvergenceError,
    ConvergenceWarning,
    SolverInfo,
    anderson,
    broyden,
    fixed_point_iteration,
    get_solver,
)

ALL_SOLVERS = [fixed_point_iteration, anderson, broyden]
DTYPE = torch.float64


def linear_contraction(d, eig_min, eig_max, seed=0):
    r"""A symmetric :math:`A` with eigenvalues evenly spread in [eig_min, eig_max],
    a vector :math:`b`, and the closed form :math:`z^\star = (I - A)^{-1} b`."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=DTYPE))
    A = Q @ torch.diag(torch.linspace(eig_min, eig_max, d, dtype=DTYPE)) @ Q.T
    b = torch.randn(d, generator=g, dtype=DTYPE)
    I_minus_A = torch.eye(d, dtype=DTYPE) - A
    z_star = torch.linalg.solve(I_minus_A, b)
    # ||(I - A)^{-1}||_2 turns a residual bound into an error bound
    inv_norm = torch.linalg.matrix_norm(torch.linalg.inv(I_minus_A), 2).item()
    return A, b, z_star, inv_norm


def residual(f, z, stop_mode="rel"):
    fz = f(z)
    r = (fz - z).norm()
    return (r / (fz.norm() + 1e-12)).item() if stop_mode == "rel" else r.item()


@pytest.mark.parametrize("solver", ALL_SOLVERS)
@pytest.mark.parametrize("stop_mode", ["rel", "abs"])
def test_solver_reaches_closed_form_fixed_point(solver, stop_mode):
    A, b, z_star, inv_norm = linear_contraction(d=20, eig_min=-0.5, eig_max=0.5)
    f = lambda z: A @ z + b  # noqa: E731
    tol = 1e-10
    z, info = solver(f, torch.zeros(20, dtype=DTYPE), tol=tol, max_iter=200, stop_mode=stop_mode)

    assert isinstance(info, SolverInfo)
    assert info.converged
    assert info.iterations == len(info.residuals) >= 1
    assert info.residuals[-1] < tol
    assert info.solver == solver.__name__
    # the recorded residual is the residual of the returned z
    assert residual(f, z, stop_mode) == pytest.approx(info.residual, rel=1e-6)
    # z - z* = (I - A)^{-1} (f(z) - z)
    scale = f(z).norm().item() if stop_mode == "rel" else 1.0
    assert (z - z_star).norm().item() <= inv_norm * tol * scale * 1.01


@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_solver_keeps_shape_of_z(solver):
    A, b, z_star, _ = linear_contraction(d=24, eig_min=0.0, eig_max=0.6)
    shape = (2, 3, 4)
    f = lambda z: (A @ z.reshape(-1) + b).reshape(shape)  # noqa: E731
    z, info = solver(f, torch.ones(shape, dtype=DTYPE), tol=1e-10, max_iter=200)
    assert z.shape == shape
    assert info.converged
    assert torch.allclose(z.reshape(-1), z_star, atol=1e-8, rtol=0)


def test_anderson_and_broyden_beat_fixed_point_iteration_on_ill_conditioned_map():
    # spectral radius 0.99: plain iteration contracts the error by 0.99 per step
    A, b, z_star, inv_norm = linear_contraction(d=50, eig_min=-0.5, eig_max=0.99)
    f = lambda z: A @ z + b  # noqa: E731
    z0 = torch.zeros(50, dtype=DTYPE)
    tol = 1e-8
    results = {solver.__name__: solver(f, z0, tol=tol, max_iter=3000) for solver in ALL_SOLVERS}
    iterations = {name: info.iterations for name, (_, info) in results.items()}
    for name, (z, info) in results.items():
        assert info.converged, name
        assert (z - z_star).norm().item() <= inv_norm * tol * f(z).norm().item() * 1.01
    # observed: fixed_point_iteration 1370, anderson 280, broyden 63
    assert 1300 < iterations["fixed_point_iteration"] < 1450
    assert iterations["anderson"] < iterations["fixed_point_iteration"] / 3
    assert iterations["broyden"] < iterations["fixed_point_iteration"] / 10


def test_broyden_full_memory_solves_linear_map_within_2d_steps():
    # Gay (1979): on a linear map, good Broyden terminates within 2d steps
    d = 30
    A, b, z_star, _ = linear_contraction(d=d, eig_min=-0.9, eig_max=0.99, seed=1)
    f = lambda z: A @ z + b  # noqa: E731
    z, info = broyden(f, torch.zeros(d, dtype=DTYPE), tol=1e-9, max_iter=2 * d + 1, memory=2 * d)
    assert info.converged
    assert info.iterations <= 2 * d + 1
    assert torch.allclose(z, z_star, atol=1e-6, rtol=0)


def test_anderson_with_window_one_is_fixed_point_iteration():
    A, b, _, _ = linear_contraction(d=10, eig_min=0.0, eig_max=0.9)
    f = lambda z: A @ z + b  # noqa: E731
    z0 = torch.zeros(10, dtype=DTYPE)
    z_fp, info_fp = fixed_point_iteration(f, z0, tol=1e-6, max_iter=500)
    z_aa, info_aa = anderson(f, z0, tol=1e-6, max_iter=500, m=1, beta=1.0)
    assert info_aa.iterations == info_fp.iterations
    assert info_aa.residuals == pytest.approx(info_fp.residuals, rel=1e-10)
    assert torch.allclose(z_aa, z_fp, atol=1e-12, rtol=0)


@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_non_convergence_warns_and_raises(solver):
    A, b, _, _ = linear_contraction(d=20, eig_min=0.0, eig_max=0.99)
    f = lambda z: A @ z + b  # noqa: E731
    z0 = torch.zeros(20, dtype=DTYPE)

    with pytest.warns(ConvergenceWarning, match=r"did not converge after 3 iterations") as rec:
        z, info = solver(f, z0, tol=1e-12, max_iter=3)
    assert "best residual" in str(rec[0].message) and "tol 1.0e-12" in str(rec[0].message)
    assert rec[0].filename == __file__  # the warning points at the caller
    assert not info.converged
    assert info.iterations == len(info.residuals) == 3
    assert info.residual == min(info.residuals)

    with pytest.raises(ConvergenceError, match="my layer: "):
        solver(f, z0, tol=1e-12, max_iter=3, raise_on_failure=True, context="my layer")


@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_no_warning_on_success(solver):
    f = lambda z: 0.5 * z + 1.0  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z, info = solver(f, torch.zeros(3, dtype=DTYPE), tol=1e-10, max_iter=100)
    assert torch.allclose(z, torch.full((3,), 2.0, dtype=DTYPE), atol=1e-8)


def test_divergence_returns_best_iterate():
    f = lambda z: 3.0 * z + 1.0  # noqa: E731  (fixed point -1/2 is repelling)
    z0 = torch.zeros(4, dtype=DTYPE)
    with pytest.warns(ConvergenceWarning):
        z, info = fixed_point_iteration(f, z0, tol=1e-6, max_iter=20, stop_mode="abs")
    # residuals grow, so the best iterate is z0
    assert info.residuals[0] == info.residual
    assert torch.equal(z, z0)


@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_solvers_build_no_autograd_graph(solver):
    W = torch.nn.Parameter(0.1 * torch.eye(5, dtype=DTYPE))
    z, info = solver(lambda z: W @ z + 1.0, torch.zeros(5, dtype=DTYPE), tol=1e-8, max_iter=50)
    assert info.converged
    assert z.grad_fn is None and not z.requires_grad


@pytest.mark.parametrize(
    "solver, kwargs, match",
    [
        (anderson, dict(tol=0.0), "tol must be a positive finite number, got 0.0"),
        (anderson, dict(tol=-1e-3), "tol must be a positive finite number, got -0.001"),
        (broyden, dict(max_iter=0), "max_iter must be a positive integer, got 0"),
        (fixed_point_iteration, dict(max_iter=2.5), "max_iter must be a positive integer, got 2.5"),
        (fixed_point_iteration, dict(stop_mode="max"), "stop_mode must be one of 'rel', 'abs'"),
        (anderson, dict(m=0), r"m \(the Anderson window\) must be a positive integer, got 0"),
        (anderson, dict(beta=0.0), "beta .* must be a positive finite number, got 0.0"),
        (anderson, dict(beta=1.5), r"beta .* must be in \(0, 1\], got 1.5"),
        (anderson, dict(lam=0.0), "lam .* must be a positive finite number, got 0.0"),
        (broyden, dict(memory=0), r"memory .* must be a positive integer, got 0"),
    ],
)
def test_bad_options_raise_value_error(solver, kwargs, match):
    with pytest.raises(ValueError, match=match):
        solver(lambda z: 0.5 * z, torch.ones(3), **kwargs)


@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_bad_inputs_raise_value_error(solver):
    z0_message = "z0 must be a non-empty floating point tensor, got "
    with pytest.raises(ValueError, match=rf"{z0_message}torch.int64 of shape \(3,\)"):
        solver(lambda z: z, torch.ones(3, dtype=torch.long))
    with pytest.raises(ValueError, match=f"{z0_message}list"):
        solver(lambda z: z, [1.0, 2.0])
    with pytest.raises(ValueError, match=rf"{z0_message}torch.float32 of shape \(0, 2\)"):
        solver(lambda z: z, torch.ones(0, 2))
    with pytest.raises(ValueError, match="f must be a callable z -> f\\(z\\), got int"):
        solver(3, torch.ones(3))
    with pytest.raises(ValueError, match=r"f must return a tensor of the shape of z0 \(3,\)"):
        solver(lambda z: z[:2], torch.ones(3))


def test_get_solver():
    assert set(SOLVERS) == {"fixed_point_iteration", "anderson", "broyden"}
    assert get_solver("anderson") is anderson
    assert get_solver(broyden) is broyden
    with pytest.raises(
        ValueError,
        match="solver must be one of 'fixed_point_iteration', .* or a callable, got 'newton'",
    ):
        get_solver("newton")


@pytest.mark.parametrize(
    "ours, theirs, their_options",
    [
        (fixed_point_iteration, "fixed_point_iter", {}),
        # torchdeq's lam is absolute; its default 1e-4 stalls at tight tolerances
        (anderson, "anderson", {"lam": 1e-12}),
        (broyden, "broyden", {}),
    ],
)
def test_same_fixed_point_as_torchdeq(ours, theirs, their_options):
    torchdeq_solver = pytest.importorskip("torchdeq.solver")
    A, b, z_star, inv_norm = linear_contraction(d=20, eig_min=-0.5, eig_max=0.5, seed=2)
    f = lambda z: A @ z + b  # noqa: E731
    tol = 1e-9
    z_ours, info = ours(f, torch.zeros(20, dtype=DTYPE), tol=tol, max_iter=500, stop_mode="abs")
    # torchdeq solves a batch: z has shape (batch, d)
    z_theirs, _, their_info = torchdeq_solver.get_solver(theirs)(
        lambda z: z @ A.T + b,
        torch.zeros(1, 20, dtype=DTYPE),
        tol=tol,
        max_iter=500,
        stop_mode="abs",
        **their_options,
    )
    assert info.converged
    assert their_info["abs_lowest"].item() < tol
    # both within ||(I - A)^{-1}|| * tol of z*, hence of each other
    assert (z_ours - z_star).norm().item() <= inv_norm * tol * 1.01
    assert (z_theirs[0] - z_ours).norm().item() <= 2 * inv_norm * tol * 1.01
