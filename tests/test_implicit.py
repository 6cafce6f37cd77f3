"""Implicit gradients of DEQFixedPoint vs finite differences, unrolled iterations
and torchdeq, on a small tanh contraction."""

import pytest
import torch
from torch import nn

from revgnn_edu.nn.implicit import DEQFixedPoint, unrolled
from revgnn_edu.solvers import ConvergenceError, ConvergenceWarning, anderson

DTYPE = torch.float64
N, D, P = 6, 4, 3  # nodes, state channels, input channels


class TanhLayer(nn.Module):
    r""":math:`f(z, x) = \tanh(W \tfrac{1}{2}(z + z_{\pi}) \cdot s + U x + b)` with
    :math:`\lVert W \rVert_2 = 0.5`, a contraction in :math:`z`; the integer index
    :math:`\pi` and the float :math:`s` test that non-differentiable inputs pass."""

    def __init__(self, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        W = torch.randn(D, D, generator=g, dtype=DTYPE)
        self.W = nn.Parameter(0.5 * W / torch.linalg.matrix_norm(W, 2))
        self.U = nn.Parameter(torch.randn(D, P, generator=g, dtype=DTYPE))
        self.b = nn.Parameter(torch.randn(D, generator=g, dtype=DTYPE))

    def forward(self, z, x, perm, scale=1.0):
        assert perm.dtype == torch.long and isinstance(scale, float)
        mixed = 0.5 * (z + z[perm])  # mixes rows, Lipschitz 1
        return torch.tanh(scale * mixed @ self.W.T + x @ self.U.T + self.b)


@pytest.fixture
def problem():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(N, P, generator=g, dtype=DTYPE, requires_grad=True)
    perm = torch.randperm(N, generator=g)
    c = torch.randn(N, D, generator=g, dtype=DTYPE)  # loss L = <c, z*>
    return TanhLayer(), x, perm, c


def tight_deq(f, solver="anderson", **kwargs):
    return DEQFixedPoint(f, solver=solver, tol=1e-13, max_iter=200, **kwargs)


def test_forward_returns_fixed_point(problem):
    f, x, perm, _ = problem
    deq = tight_deq(f)
    z = deq(torch.zeros(N, D, dtype=DTYPE), x, perm, 1.0)
    assert z.shape == (N, D)
    assert deq.last_forward_info.converged
    assert deq.last_forward_info.iterations == len(deq.last_forward_info.residuals)
    assert torch.allclose(f(z, x, perm, 1.0), z, atol=1e-12, rtol=0)
    assert z.grad_fn is not None  # re-attached to W, U, b and x by one step


@pytest.mark.parametrize("solver", ["anderson", "broyden", "fixed_point_iteration"])
def test_implicit_gradient_matches_finite_differences(problem, solver, central_difference):
    f, x, perm, c = problem
    deq = tight_deq(f, solver=solver)
    z0 = torch.zeros(N, D, dtype=DTYPE)

    (deq(z0, x, perm, 1.0) * c).sum().backward()
    assert deq.last_backward_info.converged

    def loss():
        with torch.no_grad():
            return (deq(z0, x, perm, 1.0) * c).sum().item()

    for name, t in [("W", f.W), ("U", f.U), ("b", f.b), ("x", x)]:
        fd = central_difference(loss, t).view_as(t)
        # FD error ~ eps^2 * L''' + tol / eps, both << 1e-7 here
        assert torch.allclose(t.grad, fd, atol=1e-7, rtol=1e-6), name


def test_implicit_gradient_matches_unrolled_iterations(problem):
    f, x, perm, c = problem
    z0 = torch.zeros(N, D, dtype=DTYPE)
    params = [f.W, f.U, f.b, x]

    (tight_deq(f)(z0, x, perm, 1.0) * c).sum().backward()
    implicit = [p.grad.clone() for p in params]
    for p in params:
        p.grad = None

    # 200 steps of a 0.5-contraction: the unrolled error is ~0.5^200
    (unrolled(f, z0, (x, perm, 1.0), steps=200) * c).sum().backward()
    for name, g_imp, p in zip("WUbx", implicit, params):
        assert torch.allclose(g_imp, p.grad, atol=1e-11, rtol=0), name


def test_different_forward_and_backward_solvers(problem):
    f, x, perm, c = problem
    z0 = torch.zeros(N, D, dtype=DTYPE)
    deq = DEQFixedPoint(
        f,
        solver="anderson",
        tol=1e-12,
        max_iter=100,
        solver_kwargs={"m": 3, "stop_mode": "abs"},
        backward_solver="broyden",
    )
    (deq(z0, x, perm, 1.0) * c).sum().backward()
    assert deq.last_forward_info.solver == "anderson"
    assert deq.last_backward_info.solver == "broyden"  # got none of anderson's options
    implicit = f.W.grad.clone()
    f.W.grad = None
    (unrolled(f, z0, (x, perm, 1.0), steps=200) * c).sum().backward()
    assert torch.allclose(implicit, f.W.grad, atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match="solver must be one of"):
        DEQFixedPoint(f, solver="newton")


def test_forward_solve_keeps_no_graph(problem):
    f, x, perm, c = problem
    calls = []  # (grad mode on?, output has a grad_fn?) for every call of f

    def recorded_f(z, *inputs):
        out = f(z, *inputs)
        calls.append((torch.is_grad_enabled(), out.grad_fn is not None))
        return out

    solver_outputs = []

    def recorded_anderson(g, z0, **options):
        z, info = anderson(g, z0, **options)
        solver_outputs.append(z)
        return z, info

    deq = DEQFixedPoint(recorded_f, solver=recorded_anderson, tol=1e-10, max_iter=100)
    z = deq(torch.zeros(N, D, dtype=DTYPE), x, perm, 1.0)
    (z_star,) = solver_outputs
    assert z_star.grad_fn is None and not z_star.requires_grad
    # every solver iteration ran without a graph; only the final step built one
    n_solve = deq.last_forward_info.iterations
    assert calls == [(False, False)] * n_solve + [(True, True)]

    calls.clear()
    (z * c).sum().backward()
    # backward: one rebuilt step for the vector-Jacobian products, nothing else
    assert calls == [(True, True)]


def test_no_hook_without_grad(problem):
    f, x, perm, _ = problem
    deq = tight_deq(f)
    with torch.no_grad():
        z = deq(torch.zeros(N, D, dtype=DTYPE), x, perm, 1.0)
    assert z.grad_fn is None
    assert deq.last_forward_info.converged and deq.last_backward_info is None


def test_backward_twice_gives_same_gradient(problem):
    f, x, perm, c = problem
    deq = tight_deq(f)
    loss = (deq(torch.zeros(N, D, dtype=DTYPE), x, perm, 1.0) * c).sum()
    loss.backward(retain_graph=True)
    first = f.W.grad.clone()
    loss.backward()
    assert torch.allclose(f.W.grad, 2 * first, atol=1e-14, rtol=0)


def test_forward_non_convergence_is_reported(problem):
    f, x, perm, _ = problem
    z0 = torch.zeros(N, D, dtype=DTYPE)
    deq = DEQFixedPoint(f, tol=1e-13, max_iter=2)
    with pytest.warns(ConvergenceWarning, match="DEQFixedPoint forward solve: anderson did not"):
        deq(z0, x, perm, 1.0)
    assert not deq.last_forward_info.converged
    assert deq.last_forward_info.iterations == 2

    deq = DEQFixedPoint(f, tol=1e-13, max_iter=2, raise_on_failure=True)
    with pytest.raises(ConvergenceError, match="forward solve"):
        deq(z0, x, perm, 1.0)


def test_backward_non_convergence_is_reported(problem):
    f, x, perm, c = problem
    z0 = torch.zeros(N, D, dtype=DTYPE)
    deq = DEQFixedPoint(
        f, tol=1e-13, max_iter=200, backward_solver="fixed_point_iteration", backward_max_iter=2
    )
    loss = (deq(z0, x, perm, 1.0) * c).sum()
    assert deq.last_forward_info.converged
    with pytest.warns(ConvergenceWarning, match=r"backward \(adjoint\) solve: fixed_point_it"):
        loss.backward()
    assert not deq.last_backward_info.converged
    assert deq.last_backward_info.iterations == 2

    deq.raise_on_failure = True
    loss = (deq(z0, x, perm, 1.0) * c).sum()
    with pytest.raises(ConvergenceError, match="backward"):
        loss.backward()


def test_jacobian_free_is_the_one_step_gradient(problem):
    f, x, perm, c = problem
    z0 = torch.zeros(N, D, dtype=DTYPE)
    deq = tight_deq(f, jacobian_free=True)
    z = deq(z0, x, perm, 1.0)
    (z * c).sum().backward()
    assert deq.last_backward_info is None
    jfb = f.W.grad.clone()
    f.W.grad = None
    # the same thing by hand: differentiate one step at the detached fixed point
    (f(z.detach(), x, perm, 1.0) * c).sum().backward()
    assert torch.allclose(jfb, f.W.grad, atol=1e-12, rtol=0)
    assert "jacobian_free=True" in str(deq)


def test_repr(problem):
    f = problem[0]
    deq = DEQFixedPoint(f, solver="broyden", tol=1e-5, max_iter=30)
    assert str(deq) == (
        "DEQFixedPoint(\n  solver=broyden, tol=1e-05, max_iter=30\n  (f): TanhLayer()\n)"
    )


def test_unrolled(problem):
    f, x, perm, _ = problem
    z0 = torch.zeros(N, D, dtype=DTYPE)
    assert unrolled(f, z0, (x, perm, 1.0), steps=0) is z0
    two = unrolled(f, z0, (x, perm, 1.0), steps=2)
    assert torch.equal(two, f(f(z0, x, perm, 1.0), x, perm, 1.0))
    single_tensor = unrolled(lambda z, y: 0.5 * z + y, z0, torch.ones(N, D, dtype=DTYPE), steps=3)
    assert torch.allclose(single_tensor, torch.full((N, D), 1.75, dtype=DTYPE))
    with pytest.raises(ValueError, match="steps must be an integer >= 0, got -1"):
        unrolled(f, z0, (x, perm, 1.0), steps=-1)


def test_same_gradient_as_torchdeq(problem):
    torchdeq = pytest.importorskip("torchdeq")
    f, x, perm, c = problem
    z0 = torch.zeros(N, D, dtype=DTYPE)
    params = [f.W, f.U, f.b, x]

    (tight_deq(f)(z0, x, perm, 1.0) * c).sum().backward()
    ours = [p.grad.clone() for p in params]
    for p in params:
        p.grad = None

    theirs_deq = torchdeq.get_deq(
        core="indexing",
        ift=True,
        f_solver="broyden",
        b_solver="broyden",
        f_max_iter=100,
        b_max_iter=100,
        f_tol=1e-12,
        b_tol=1e-12,
    )
    # torchdeq treats dim 0 as a batch; our f couples rows, so use one batch entry
    z_out, _ = theirs_deq(lambda z: f(z.view(N, D), x, perm, 1.0).view(1, -1), z0.view(1, -1))
    (z_out[-1].view(N, D) * c).sum().backward()
    for name, g_ours, p in zip("WUbx", ours, params):
        assert torch.allclose(g_ours, p.grad, atol=1e-9, rtol=0), name


def test_gradcheck_with_its_default_checks(problem):
    """Before: gradcheck's undefined-gradient check raised 'z0 must be a torch.Tensor,
    got NoneType' from inside the adjoint solve."""
    f, x, perm, _ = problem
    deq = tight_deq(f)
    z0 = torch.zeros(N, D, dtype=DTYPE)
    assert torch.autograd.gradcheck(lambda x: deq(z0, x, perm, 1.0), (x,))


# -- the adjoint's guards (issue 16.2 and 16.3) ------------------------------------------
class AdditiveTanh(nn.Module):
    """f(z, x) = tanh(W z + x): x enters additively, so autograd saves nothing of it."""

    def __init__(self):
        super().__init__()
        W = torch.randn(D, D, generator=torch.Generator().manual_seed(0), dtype=DTYPE)
        self.W = nn.Parameter(0.5 * W / torch.linalg.matrix_norm(W, 2))

    def forward(self, z, x):
        return torch.tanh(z @ self.W.T + x)


def test_create_graph_raises_instead_of_wrong_second_derivatives(problem):
    """Before: second derivatives 1.2-1.5 relative error, some of them None."""
    f, x, perm, c = problem
    deq = tight_deq(f)
    loss = (deq(torch.zeros(N, D, dtype=DTYPE), x, perm, 1.0) * c).sum()
    with pytest.raises(RuntimeError, match="first-order.*create_graph=True"):
        torch.autograd.grad(loss, f.W, create_graph=True)
    # the Jacobian-free approximation is one step of ordinary autograd: allowed
    jfb = tight_deq(f, jacobian_free=True)
    (g,) = torch.autograd.grad(
        (jfb(torch.zeros(N, D, dtype=DTYPE), x, perm, 1.0) * c).sum(), f.W, create_graph=True
    )
    assert g.requires_grad


def test_an_input_changed_in_place_before_backward_raises():
    """Before: no error, W's gradient 13% off after x.mul_(3)."""
    f = AdditiveTanh()
    x = torch.randn(N, D, dtype=DTYPE, requires_grad=True)
    deq = tight_deq(f)
    h = x * 1  # a non-leaf, so it may be changed in place
    loss = deq(torch.zeros(N, D, dtype=DTYPE), h).pow(2).sum()
    with torch.no_grad():
        h.mul_(3)
    with pytest.raises(RuntimeError, match=r"inputs\[0\] of f\(z, \*inputs\) \(shape \(6, 4\)"):
        loss.backward()


def test_a_parameter_changed_in_place_before_backward_raises():
    f = AdditiveTanh()
    deq = tight_deq(f)
    loss = deq(torch.zeros(N, D, dtype=DTYPE), torch.randn(N, D, dtype=DTYPE)).pow(2).sum()
    with torch.no_grad():
        f.W.mul_(0.5)  # e.g. an optimizer step between forward and backward
    with pytest.raises(RuntimeError, match="parameter 'W' of f .* modified in place"):
        loss.backward()


def test_every_non_converging_step_is_reported_under_the_default_filter(problem):
    """Before: Python's default filter showed identical warnings once per code location
    (1 of 5 non-converging steps reported)."""
    import warnings

    f, x, perm, _ = problem
    deq = DEQFixedPoint(f, tol=1e-13, max_iter=2)
    z0 = torch.zeros(N, D, dtype=DTYPE)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # Python's own default action
        for _ in range(5):  # five identical steps, five identical failures
            deq(z0, x, perm, 1.0)
    messages = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert len(messages) == 5 and len(set(messages)) == 5
    assert all("forward solve: anderson did not converge after 2 iterations" in m for m in messages)
