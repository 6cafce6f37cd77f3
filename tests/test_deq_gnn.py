"""DEQ-GNN: the equilibrium block, implicit gradients, convergence reports, memory."""

import copy
import warnings

import pytest
import torch

from revgnn_edu.complexity import measure_activation_bytes
from revgnn_edu.data import random_graph
from revgnn_edu.models.deq import DEQGNN
from revgnn_edu.nn.deq_block import DEQGraphBlock
from revgnn_edu.solvers import ConvergenceError, ConvergenceWarning

DTYPE = torch.float64


@pytest.fixture
def tiny():
    """8 nodes, 24 edges, 3 features, 2-dim edge features, 2 classes, float64."""
    return random_graph(8, 24, 3, edge_dim=2, num_classes=2, seed=3, dtype=DTYPE)


def tight(graph, **kwargs):
    """A small float64 DEQ-GNN solved to 1e-12."""
    args = dict(num_layers=300, edge_dim=graph.edge_attr.size(1), tol=1e-12)
    args.update(kwargs)
    return DEQGNN(graph.num_features, 4, 2, **args).to(DTYPE)


def loss_of(model, graph, x=None, edge_attr=None):
    x = graph.x if x is None else x
    e = graph.edge_attr if edge_attr is None else edge_attr
    out = model(x, graph.edge_index, e)
    return torch.nn.functional.cross_entropy(out, graph.y)


def test_block_shapes_and_repr():
    block = DEQGraphBlock(8, edge_dim=8, dropout=0.1)
    z, x_inj = torch.randn(5, 8), torch.randn(5, 8)
    ei, e = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]]), torch.randn(4, 8)
    block.dropout.resample(z)
    assert block(z, x_inj, ei, e).shape == (5, 8)
    assert str(block).startswith("DEQGraphBlock(\n  8\n  (conv1): GENConv(8, 8, aggr=max)")
    with pytest.raises(ValueError, match=r"z and x_inj must both have shape \(num_nodes, 8\)"):
        block(z, torch.randn(5, 4), ei, e)
    gcn = DEQGraphBlock(8, conv="gcn")
    assert gcn(z, x_inj, ei).shape == (5, 8)


def test_forward_reaches_a_fixed_point(tiny):
    torch.manual_seed(0)
    model = tight(tiny)
    h0 = model.node_encoder(tiny.x)
    e = model.edge_encoder(tiny.edge_attr)
    z = model.body(h0, tiny.edge_index, e)
    info = model.last_forward_info
    assert info.converged and info.iterations < 300 and info.residual < 1e-12
    # z = f(z*) and z* = f(z*): z is (numerically) a fixed point of the block
    torch.testing.assert_close(model.block(z, h0, tiny.edge_index, e), z, rtol=0, atol=1e-10)
    out = model(tiny.x, tiny.edge_index, tiny.edge_attr)
    assert out.shape == (8, 2)
    assert str(model).startswith("DEQGNN(\n  3, 4, 2, num_layers=300, mode=implicit\n")


def test_implicit_gradients_match_finite_differences(tiny, central_difference):
    torch.manual_seed(0)
    model = tight(tiny)
    x = tiny.x.clone().requires_grad_()
    e = tiny.edge_attr.clone().requires_grad_()
    loss_of(model, tiny, x, e).backward()
    assert model.last_backward_info.converged

    def loss():
        with torch.no_grad():
            return loss_of(model, tiny, x, e).item()

    gen = torch.Generator().manual_seed(0)
    checks = [("x", x), ("edge_attr", e)] + [
        (name, p) for name, p in model.named_parameters() if name.startswith("deq.f.")
    ]
    for name, t in checks:
        idx = torch.randperm(t.numel(), generator=gen)[:3].tolist()
        fd = central_difference(loss, t, idx)
        torch.testing.assert_close(
            t.grad.reshape(-1)[idx],
            fd,
            rtol=1e-5,
            atol=1e-8,
            msg=lambda m, name=name: f"{name}: {m}",
        )


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_implicit_gradients_match_many_unrolled_iterations(tiny, dropout):
    torch.manual_seed(0)
    model = tight(tiny, dropout=dropout)
    twin = copy.deepcopy(model)
    twin.mode, twin.unrolled_steps = "unrolled", 200
    assert "mode=unrolled, unrolled_steps=200" in str(twin)
    grads = []
    for m in (model, twin):
        torch.manual_seed(1)  # the same shared dropout mask in both
        x = tiny.x.clone().requires_grad_()
        loss_of(m, tiny, x).backward()
        grads.append([x.grad] + [p.grad for p in m.parameters()])
    for g, g_ref in zip(*grads):
        torch.testing.assert_close(g, g_ref, rtol=1e-7, atol=1e-9)


def test_dropout_mask_is_drawn_once_per_forward_pass(tiny):
    torch.manual_seed(0)
    model = tight(tiny, dropout=0.5)
    masks = []
    f = model.deq.f.forward

    def recording_forward(*args, **kwargs):
        masks.append(model.block.dropout.mask)
        return f(*args, **kwargs)

    model.deq.f.forward = recording_forward
    loss_of(model, tiny).backward()
    n = model.last_forward_info.iterations
    assert len(masks) == n + 2  # solver iterations, the final step, the adjoint's step
    assert all(m is masks[0] for m in masks) and masks[0].shape == (8, 4)
    loss_of(model, tiny)
    assert masks[-1] is not masks[0]  # the next forward pass draws a new mask


def test_non_convergence_is_reported(tiny):
    torch.manual_seed(0)
    model = tight(tiny, num_layers=2)
    with pytest.warns(
        ConvergenceWarning, match="forward solve: anderson did not converge after 2 iterations"
    ):
        loss_of(model, tiny)
    assert not model.last_forward_info.converged
    model = tight(tiny, num_layers=2, raise_on_failure=True)
    with pytest.raises(ConvergenceError, match="forward solve"):
        loss_of(model, tiny)
    model = tight(tiny, backward_max_iter=2, backward_solver="fixed_point_iteration")
    loss = loss_of(model, tiny)
    with pytest.warns(ConvergenceWarning, match=r"backward \(adjoint\) solve"):
        loss.backward()
    assert model.last_forward_info.converged and not model.last_backward_info.converged


@pytest.mark.parametrize("solver", ["broyden", "fixed_point_iteration"])
def test_other_solvers_and_jacobian_free(tiny, solver):
    torch.manual_seed(0)
    model = tight(tiny, solver=solver)
    loss_of(model, tiny).backward()
    assert model.last_forward_info.solver == solver and model.last_forward_info.converged
    jfb = tight(tiny, jacobian_free=True)
    loss_of(jfb, tiny).backward()
    assert jfb.last_backward_info is None
    assert all(p.grad is not None for p in jfb.parameters())


def test_num_layers_is_the_iteration_limit(tiny):
    model = tight(tiny, tol=1e-30, num_layers=7, solver="fixed_point_iteration")
    with pytest.warns(ConvergenceWarning):
        loss_of(model, tiny)
    assert model.last_forward_info.iterations == 7
    model.num_layers = 4
    with pytest.warns(ConvergenceWarning):
        loss = loss_of(model, tiny)
    assert model.last_forward_info.iterations == 4
    with pytest.warns(ConvergenceWarning):
        loss.backward()
    assert model.last_backward_info.iterations == 4  # the adjoint follows num_layers
    fixed = tight(tiny, num_layers=7, backward_max_iter=9)
    fixed.num_layers = 5
    with pytest.warns(ConvergenceWarning):
        loss_of(fixed, tiny).backward()
    assert fixed.deq.max_iter == 5 and fixed.deq.backward_max_iter == 9
    assert fixed.deq.max_iter == 5  # set when num_layers was set, not in forward
    fixed.deq.max_iter = 6  # a solver setting changed directly stays as set
    with pytest.warns(ConvergenceWarning):
        loss_of(fixed, tiny)
    assert fixed.deq.max_iter == 6 and fixed.last_forward_info.iterations == 6


def test_unrolled_pretraining_then_implicit(tiny):
    torch.manual_seed(0)
    model = DEQGNN(3, 8, 2, num_layers=50, edge_dim=2, mode="unrolled", unrolled_steps=4).to(DTYPE)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for epoch in range(6):
        if epoch == 3:
            model.mode = "implicit"  # warm start done: switch to the fixed point
        opt.zero_grad()
        loss = loss_of(model, tiny)
        loss.backward()
        opt.step()
        assert torch.isfinite(loss)
    assert model.last_forward_info.converged


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(mode="explicit"), r"mode must be one of 'implicit', 'unrolled', got 'explicit'"),
        (dict(unrolled_steps=0), "unrolled_steps must be a positive integer, got 0"),
        (dict(solver="newton"), "solver must be one of"),
        (dict(num_layers=0), "num_layers must be a positive integer, got 0"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DEQGNN(3, 4, 2, **{"num_layers": 5, **kwargs})


def test_training_memory_does_not_grow_with_iterations():
    graph = random_graph(100, 400, 8, edge_dim=4, num_classes=3, seed=0)
    mem = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=1e-30: all iterations
        for K in (10, 50):
            for mode in ("implicit", "unrolled"):
                torch.manual_seed(0)
                model = DEQGNN(8, 16, 3, K, edge_dim=4, tol=1e-30, mode=mode)
                mem[mode, K] = measure_activation_bytes(model, graph)
                if mode == "implicit":
                    assert model.last_forward_info.iterations == K
                    assert model.last_backward_info.iterations == K
    assert abs(mem["implicit", 50] - mem["implicit", 10]) <= 0.01 * mem["implicit", 10]
    assert mem["unrolled", 50] > 4 * mem["unrolled", 10]  # unrolled: O(K N D)
    assert mem["implicit", 50] < mem["unrolled", 50] / 5


def test_adjoint_uses_the_dropout_mask_of_its_own_forward_pass(tiny):
    """Two forward passes, then one backward: each adjoint solve must evaluate f with
    the mask its forward pass drew, as unrolled training through the same steps does."""
    torch.manual_seed(0)
    model = tight(tiny, dropout=0.3)
    other = random_graph(11, 30, 3, edge_dim=2, num_classes=2, seed=4, dtype=DTYPE)
    torch.manual_seed(1)
    (loss_of(model, tiny) + loss_of(model, other)).backward()
    two = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    torch.manual_seed(1)  # the same two masks, each forward then its own backward
    loss_of(model, tiny).backward()
    loss_of(model, other).backward()
    for g, g_ref in zip(two, (p.grad for p in model.parameters())):
        torch.testing.assert_close(g, g_ref, rtol=1e-7, atol=1e-9)


def test_edge_index_edited_in_place_before_backward_raises(tiny):
    """Before: no error (autograd keeps no reference to this edge_index, so it did not
    notice), and gradients 157% off here."""
    model = tight(tiny, conv="gcn", edge_dim=None)
    edge_index = tiny.edge_index.clone()
    out = model(tiny.x, edge_index)
    edge_index[1] = edge_index[1].flip(0)
    with pytest.raises(RuntimeError, match=r"inputs\[1\] of f\(z, \*inputs\) \(shape \(2, 24\)"):
        out.pow(2).sum().backward()


def test_int32_edge_index(tiny):
    """The block refuses int32 indices; the model converts them once. (Before: NaN
    gradients, from PyTorch's CPU backward of max aggregation with int32 indices.)"""
    with pytest.raises(ValueError, match="DEQGraphBlock: edge_index must be an integer index"):
        DEQGraphBlock(4)(torch.randn(8, 4), torch.randn(8, 4), tiny.edge_index.int())
    grads = []
    for ei in (tiny.edge_index, tiny.edge_index.int()):
        torch.manual_seed(0)
        model = tight(tiny)
        x = tiny.x.clone().requires_grad_()
        model(x, ei, tiny.edge_attr).pow(2).sum().backward()
        grads.append([x.grad] + [p.grad for p in model.parameters()])
    for g, g_ref in zip(*grads):
        assert torch.isfinite(g).all()
        torch.testing.assert_close(g, g_ref, rtol=0, atol=0)
