import copy
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn
from torch_geometric.nn import GroupAddRev

from revgnn_edu.data import random_graph
from revgnn_edu.nn.blocks import GNNBlock
from revgnn_edu.nn.dropout import SharedDropout, dropout_mask
from revgnn_edu.nn.reversible import GroupReversible

D = 24  # divisible by every group count tested
F_E = 5  # edge feature size; != D, so GroupAddRev does not split edge features


@pytest.fixture
def coupling_graph():
    """12 nodes, 40 edges, D = 24 features (every group count divides it), F_e = 5."""
    return random_graph(12, 40, D, edge_dim=F_E, seed=0, dtype=torch.float64)


def make_stack(num_layers, num_groups, dropout=0.0, memory_efficient=True, seed=0):
    """A stack of GroupReversible layers of GNNBlocks sharing one dropout per group."""
    torch.manual_seed(seed)
    drops = [SharedDropout(dropout) for _ in range(num_groups)]
    layers = nn.ModuleList(
        GroupReversible(
            [GNNBlock(D // num_groups, "gen", edge_dim=F_E, dropout=drop) for drop in drops],
            memory_efficient=memory_efficient,
        )
        for _ in range(num_layers)
    ).double()
    return layers, drops


def set_masks(drops, x, p, seed=1):
    torch.manual_seed(seed)
    mask = dropout_mask(x, p)  # one N x D mask; group i uses column block i
    for drop, m in zip(drops, mask.chunk(len(drops), dim=1)):
        drop.set_mask(m)
    return mask


def run(layers, x, coupling_graph, edge_attr):
    h = x
    for layer in layers:
        h = layer(h, coupling_graph.edge_index, edge_attr)
    return h


def grads_of(layers, coupling_graph, x0, e0, weight):
    """Output and gradients of sum(weight * stack(x)) w.r.t. x, edge_attr and params."""
    x, e = x0.clone().requires_grad_(), e0.clone().requires_grad_()
    out = run(layers, x, coupling_graph, e)
    out_copy = out.detach().clone()  # GroupAddRev frees its output's storage in backward
    (out * weight).sum().backward()
    return out_copy, x.grad, e.grad, [p.grad for layer in layers for p in layer.parameters()]


# -- the coupling --------------------------------------------------------------------
@pytest.mark.parametrize("num_groups", [2, 3, 4, 8])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_inverse_recovers_the_input(coupling_graph, num_groups, dropout):
    layers, drops = make_stack(1, num_groups, dropout)
    layer = layers[0]
    set_masks(drops, coupling_graph.x, dropout)
    x = coupling_graph.x
    y = layer(x, coupling_graph.edge_index, coupling_graph.edge_attr)
    assert y.shape == x.shape and not torch.allclose(y, x)
    x_rebuilt = layer.inverse(y, coupling_graph.edge_index, coupling_graph.edge_attr)
    torch.testing.assert_close(x_rebuilt, x, rtol=0, atol=1e-12)


def test_forward_follows_the_formula(coupling_graph):
    layers, _ = make_stack(1, 3)
    layer, (f1, f2, f3) = layers[0], layers[0].blocks
    ei, e = coupling_graph.edge_index, coupling_graph.edge_attr
    x1, x2, x3 = coupling_graph.x.chunk(3, dim=1)
    y0 = x2 + x3  # X'_0 = X_2 + X_3
    y1 = f1(y0, ei, e) + x1
    y2 = f2(y1, ei, e) + x2
    y3 = f3(y2, ei, e) + x3
    torch.testing.assert_close(layer(coupling_graph.x, ei, e), torch.cat([y1, y2, y3], dim=1))


@pytest.mark.parametrize("num_groups", [2, 3, 4])
@pytest.mark.parametrize("num_layers", [1, 3])
def test_gradients_match_ordinary_autograd(coupling_graph, num_groups, num_layers):
    weight = torch.randn(12, D, dtype=torch.float64)
    results = []
    for memory_efficient in (True, False):
        layers, drops = make_stack(num_layers, num_groups, 0.2, memory_efficient)
        set_masks(drops, coupling_graph.x, 0.2)
        results.append(
            grads_of(layers, coupling_graph, coupling_graph.x, coupling_graph.edge_attr, weight)
        )
    (out, gx, ge, gp), (out_ref, gx_ref, ge_ref, gp_ref) = results
    torch.testing.assert_close(out, out_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(gx, gx_ref, rtol=0, atol=1e-10)
    torch.testing.assert_close(ge, ge_ref, rtol=0, atol=1e-10)
    assert (
        len(gp)
        == len(gp_ref)
        == num_layers * sum(1 for _ in make_stack(1, num_groups)[0].parameters())
    )
    for g, g_ref in zip(gp, gp_ref):
        torch.testing.assert_close(g, g_ref, rtol=0, atol=1e-10)


def test_gradients_match_in_float32(coupling_graph):
    """In float32 the rebuilt inputs carry rounding errors: agree to about 1e-4."""
    weight = torch.randn(12, D)
    results = []
    for memory_efficient in (True, False):
        layers, _ = make_stack(8, 2, memory_efficient=memory_efficient)
        results.append(
            grads_of(
                layers.float(),
                coupling_graph,
                coupling_graph.x.float(),
                coupling_graph.edge_attr.float(),
                weight,
            )
        )
    for a, b in zip(results[0][1:3] + tuple(results[0][3]), results[1][1:3] + tuple(results[1][3])):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("num_groups", [2, 3])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_matches_pyg_group_add_rev(coupling_graph, num_groups, dropout):
    layers, drops = make_stack(1, num_groups, dropout)
    ours = layers[0]
    # GroupAddRev on copies of the same blocks: convs[i] is our f_{i+1}, and both start
    # from X'_0 = X_2 + ... + X_C, so the group order is the same.
    theirs = GroupAddRev(copy.deepcopy(ours.blocks))
    their_drops = [b.dropout for b in theirs.convs]
    mask = set_masks(drops, coupling_graph.x, dropout)
    for drop, m in zip(their_drops, mask.chunk(num_groups, dim=1)):
        drop.set_mask(m)  # the same mask (deepcopy gave each copied block its own module)
    weight = torch.randn(12, D, dtype=torch.float64)
    out, gx, ge, gp = grads_of(
        [ours], coupling_graph, coupling_graph.x, coupling_graph.edge_attr, weight
    )
    # (grads_of gives GroupAddRev a private copy of x: it frees its input's storage)
    out_pyg, gx_pyg, ge_pyg, gp_pyg = grads_of(
        [theirs], coupling_graph, coupling_graph.x, coupling_graph.edge_attr, weight
    )
    torch.testing.assert_close(out, out_pyg, rtol=0, atol=1e-12)
    torch.testing.assert_close(gx, gx_pyg, rtol=0, atol=1e-10)
    torch.testing.assert_close(ge, ge_pyg, rtol=0, atol=1e-10)
    for g, g_pyg in zip(gp, gp_pyg):
        torch.testing.assert_close(g, g_pyg, rtol=0, atol=1e-10)


# -- what the caller can still see ----------------------------------------------------
def test_no_grad_and_eval_free_nothing(coupling_graph):
    layers, _ = make_stack(3, 2)
    x = coupling_graph.x.clone()
    with torch.no_grad():
        y = run(layers, x, coupling_graph, coupling_graph.edge_attr)
    torch.testing.assert_close(x, coupling_graph.x, rtol=0, atol=0)  # still readable, unchanged
    layers.eval()
    hs = [x]
    for layer in layers:  # eval mode with grad enabled: the memory-saving path
        hs.append(layer(hs[-1], coupling_graph.edge_index, coupling_graph.edge_attr))
    torch.testing.assert_close(hs[-1], y, rtol=0, atol=1e-12)
    assert all(torch.isfinite(h).all() for h in hs)


def test_kept_intermediate_outputs_stay_readable_in_a_subprocess():
    """Reading a tensor the coupling handed on must not crash (GroupAddRev's does)."""
    script = textwrap.dedent("""
        import torch
        from torch import nn
        from revgnn_edu.nn.blocks import GNNBlock
        from revgnn_edu.nn.reversible import GroupReversible
        torch.manual_seed(0)
        layers = nn.ModuleList(GroupReversible(lambda i: GNNBlock(4), num_groups=2)
                               for _ in range(4))
        edge_index = torch.randint(0, 10, (2, 30))
        hs = [torch.randn(10, 8, requires_grad=True)]
        for layer in layers:
            hs.append(layer(hs[-1], edge_index))
        copies = [h.detach().clone() for h in hs]
        hs[-1].sum().backward()
        assert all(torch.equal(h, c) for h, c in zip(hs, copies))
        print("readable", float(sum(h.sum() for h in hs)) == float(sum(c.sum() for c in copies)))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "readable True"


def test_loss_from_an_intermediate_output(coupling_graph):
    layers, _ = make_stack(2, 2)
    x = coupling_graph.x.clone().requires_grad_()
    y1 = layers[0](x, coupling_graph.edge_index, coupling_graph.edge_attr)
    layers[1](y1, coupling_graph.edge_index, coupling_graph.edge_attr)  # takes y1 over
    y1.sum().backward()  # works: the caller still holds y1
    assert x.grad is not None
    y1 = layers[0](x, coupling_graph.edge_index, coupling_graph.edge_attr)
    layers[1](y1, coupling_graph.edge_index, coupling_graph.edge_attr)
    loss = y1.sum()
    del y1  # now nobody has layer 0's output and layer 1's backward never runs
    with pytest.raises(RuntimeError, match="nothing rebuilt the output"):
        loss.backward()


def test_in_place_change_of_an_output_raises(coupling_graph):
    layers, _ = make_stack(2, 2)
    x = coupling_graph.x.clone().requires_grad_()
    y1 = layers[0](x, coupling_graph.edge_index, coupling_graph.edge_attr)
    y1.mul_(2)
    y2 = layers[1](y1, coupling_graph.edge_index, coupling_graph.edge_attr)
    with pytest.raises(RuntimeError, match="modified in place"):
        y2.sum().backward()


# -- backward twice -------------------------------------------------------------------
def test_second_backward_raises(coupling_graph):
    layers, _ = make_stack(2, 2)
    loss = run(
        layers, coupling_graph.x.clone().requires_grad_(), coupling_graph, coupling_graph.edge_attr
    ).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_retain_graph_allows_a_second_backward(coupling_graph):
    layers, _ = make_stack(3, 2)
    x = coupling_graph.x.clone().requires_grad_()
    loss = run(layers, x, coupling_graph, coupling_graph.edge_attr).pow(2).sum()
    loss.backward(retain_graph=True)
    once = [x.grad.clone()] + [p.grad.clone() for p in layers.parameters()]
    loss.backward()
    twice = [x.grad] + [p.grad for p in layers.parameters()]
    for a, b in zip(once, twice):
        torch.testing.assert_close(b, 2 * a, rtol=0, atol=1e-10)


# -- randomness inside a block ---------------------------------------------------------
def test_ordinary_dropout_inside_a_block_is_replayed(coupling_graph):
    """nn.Dropout redraws its mask when the block is recomputed in backward; the
    coupling replays each block's random numbers so gradients stay exact."""
    weight = torch.randn(12, D, dtype=torch.float64)

    def grads(memory_efficient, preserve_rng_state=None):
        torch.manual_seed(0)
        layers = nn.ModuleList(
            GroupReversible(
                lambda i: GNNBlock(D // 2, edge_dim=F_E, dropout=0.5),
                num_groups=2,
                memory_efficient=memory_efficient,
                preserve_rng_state=preserve_rng_state,
            )
            for _ in range(2)
        ).double()
        torch.manual_seed(1)
        return grads_of(layers, coupling_graph, coupling_graph.x, coupling_graph.edge_attr, weight)[
            1
        ]

    reference = grads(memory_efficient=False)
    torch.testing.assert_close(grads(True), reference, rtol=0, atol=1e-10)
    assert not torch.allclose(grads(True, preserve_rng_state=False), reference)


# -- errors and construction --------------------------------------------------------
def test_channels_must_divide_into_groups():
    layer = GroupReversible(lambda i: GNNBlock(3), num_groups=3)
    match = r"x.size\(-1\)=10 must split into num_groups=3 equal groups"
    with pytest.raises(ValueError, match=match):
        layer(torch.randn(5, 10), torch.randint(0, 5, (2, 8)))


class _Widen(nn.Module):
    def forward(self, x, edge_index):
        return torch.cat([x, x[:, :1]], dim=1)


def test_block_that_changes_the_shape_raises():
    layer = GroupReversible([_Widen(), _Widen()])
    x = torch.randn(5, 8, requires_grad=True)
    with pytest.raises(
        ValueError,
        match=r"returned shape \(5, 5\) for an input of shape "
        r"\(5, 4\)",
    ):
        layer(x, torch.randint(0, 5, (2, 8)))


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(blocks=[GNNBlock(4)]), ValueError, "num_groups must be at least 2, got 1"),
        (
            dict(blocks=[GNNBlock(4)] * 2, num_groups=3),
            ValueError,
            "num_groups=3 but 2 blocks were given",
        ),
        (dict(blocks=lambda i: GNNBlock(4)), ValueError, "num_groups is required"),
        (dict(blocks=GNNBlock(4), num_groups=2), TypeError, "got a single GNNBlock"),
    ],
)
def test_bad_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        GroupReversible(**kwargs)


def test_repr_and_factory():
    layer = GroupReversible(lambda i: GNNBlock(4), num_groups=2)
    assert str(layer).startswith("GroupReversible(\n  num_groups=2, memory_efficient=True\n")
    assert layer.num_groups == 2 and layer.blocks[0] is not layer.blocks[1]


# -- shared dropout -------------------------------------------------------------------
def test_shared_dropout_reuses_one_mask():
    torch.manual_seed(0)
    drop = SharedDropout(0.5)
    x = torch.ones(6, 4)
    mask = drop.resample(x)
    assert set(mask.unique().tolist()) <= {0.0, 2.0}  # B / (1 - p)
    torch.testing.assert_close(drop(x), mask)
    torch.testing.assert_close(drop(3 * x), 3 * mask)  # the same mask again
    drop.eval()
    assert drop(x) is x  # identity in eval mode
    assert str(drop) == "SharedDropout(p=0.5)"


def test_shared_dropout_errors():
    drop = SharedDropout(0.5)
    with pytest.raises(RuntimeError, match="has no mask"):
        drop(torch.ones(3, 2))
    drop.resample(torch.ones(3, 2))
    with pytest.raises(
        ValueError,
        match=r"mask has shape \(3, 2\) but the input has "
        r"shape \(4, 2\)",
    ):
        drop(torch.ones(4, 2))
    with pytest.raises(ValueError, match=r"must be in \[0, 1\), got 1.0"):
        SharedDropout(1.0)


def test_bfloat16_autocast_rebuilds_and_matches_ordinary_autograd():
    """Under autocast the blocks run in bfloat16; backward recomputes them in bfloat16
    too (same autocast state), so the rebuilt activations match the forward ones and the
    gradients are as close to float32's as those of ordinary autograd under autocast."""
    from revgnn_edu.data import random_graph
    from revgnn_edu.models import RevGNN

    data = random_graph(60, 300, 8, edge_dim=4, seed=0)
    torch.manual_seed(0)
    model = RevGNN(8, 16, 3, 4, edge_dim=4)

    def grads(efficient, amp):
        model.memory_efficient = efficient
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            out = model(data.x, data.edge_index, data.edge_attr)
        out.float().pow(2).sum().backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    reference = grads(False, amp=False)  # float32
    err = {
        eff: ((grads(eff, amp=True) - reference).norm() / reference.norm()).item()
        for eff in (True, False)
    }
    assert err[False] < 0.05 and err[True] < 0.05  # bfloat16-level error (~1%)
    assert err[True] < 2 * err[False] + 0.005  # no worse than ordinary autograd


# -- randomness that is not a SharedDropout is replayed in training (issue 11.2) ------
def test_functional_dropout_inside_a_block_is_replayed(coupling_graph):
    """GATConv(dropout=0.5) drops attention weights with the functional form: before,
    the default preserve_rng_state=None replayed only nn.Dropout modules, and the
    gradients were 73-91% off."""
    from torch_geometric.nn import GATConv

    torch.manual_seed(0)
    blocks = [GNNBlock(D // 2, lambda i, o: GATConv(i, o, dropout=0.5)) for _ in range(2)]
    layer = GroupReversible(blocks).double()
    ref = copy.deepcopy(layer)
    ref.memory_efficient = False
    x, ei = coupling_graph.x, coupling_graph.edge_index
    grads = []
    for m in (layer, ref):
        torch.manual_seed(1)
        m(x, ei).pow(2).sum().backward()
        grads.append([p.grad for p in m.parameters()])
    for g, g_ref in zip(*grads):
        torch.testing.assert_close(g, g_ref, rtol=1e-9, atol=1e-11)
    layer.preserve_rng_state = False  # turned off by the user: not replayed, so wrong
    layer.zero_grad()
    torch.manual_seed(1)
    layer(x, ei).pow(2).sum().backward()
    off = max(((p.grad - g).norm() / g.norm()).item() for p, g in zip(layer.parameters(), grads[1]))
    assert off > 0.1


# -- create_graph=True (issue 11.4) ---------------------------------------------------
def test_create_graph_gives_first_order_gradients_and_a_clear_second_order_error(coupling_graph):
    """Before: 'A view was created in no_grad mode ...' even for first-order gradients."""
    layers, _ = make_stack(2, 2)
    ref = copy.deepcopy(layers)
    for layer in ref:
        layer.memory_efficient = False
    e = coupling_graph.edge_attr
    params = list(layers.parameters())
    loss = run(layers, coupling_graph.x, coupling_graph, e).pow(2).sum()
    grads = torch.autograd.grad(loss, params, create_graph=True)
    ref_loss = run(ref, coupling_graph.x, coupling_graph, e).pow(2).sum()
    for g, g_ref in zip(grads, torch.autograd.grad(ref_loss, list(ref.parameters()))):
        torch.testing.assert_close(g, g_ref, rtol=1e-9, atol=1e-11)
    with pytest.raises(
        RuntimeError,
        match="differentiate twice a function that was marked with @once_differentiable",
    ):
        sum(g.pow(2).sum() for g in grads).backward()


# -- recomputation leaves module buffers alone (issue 11.6) -----------------------------
class _BatchNormBlock(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.lin, self.bn = nn.Linear(width, width), nn.BatchNorm1d(width)

    def forward(self, x, edge_index):
        return self.bn(self.lin(x))


def test_batchnorm_statistics_are_updated_once_per_step(coupling_graph):
    """Before: the backward recomputation updated the running statistics a second
    time (num_batches_tracked 2 after one step)."""
    torch.manual_seed(0)
    layer = GroupReversible([_BatchNormBlock(D // 2) for _ in range(2)]).double()
    ref = copy.deepcopy(layer)
    ref.memory_efficient = False
    x = coupling_graph.x.clone().requires_grad_()
    for m in (layer, ref):
        m(x, coupling_graph.edge_index).pow(2).sum().backward()
    for block, block_ref in zip(layer.blocks, ref.blocks):
        assert int(block.bn.num_batches_tracked) == 1
        torch.testing.assert_close(block.bn.running_mean, block_ref.bn.running_mean, rtol=0, atol=0)
        torch.testing.assert_close(block.bn.running_var, block_ref.bn.running_var, rtol=0, atol=0)
    for p, p_ref in zip(layer.parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, p_ref.grad, rtol=1e-9, atol=1e-11)


# -- every tensor a block reads gets its gradient (issue 16.1) --------------------------
def _grads_both_ways(build, run):
    """Gradients of ``run(model, leaves)`` w.r.t. the leaves and the model's parameters,
    with memory_efficient=True and with ordinary autograd, on copies of one model."""
    model = build()
    results = []
    for efficient in (True, False):
        m = copy.deepcopy(model)
        for layer in m.modules():
            if isinstance(layer, GroupReversible):
                layer.memory_efficient = efficient
        torch.manual_seed(1)
        leaves, loss = run(m)
        loss.backward()
        results.append([t.grad for t in leaves] + [p.grad for p in m.parameters()])
    return results


def _assert_same_grads(ours, ref):
    assert len(ours) == len(ref)
    for g, g_ref in zip(ours, ref):
        assert g is not None and g_ref is not None
        torch.testing.assert_close(g, g_ref, rtol=1e-9, atol=1e-11)


class _H0Block(nn.Module):
    """f(X, A, U, H0) = tanh(lin(X) + a * H0): a block with an initial-residual input."""

    def __init__(self, width):
        super().__init__()
        self.lin, self.a = nn.Linear(width, width), nn.Parameter(torch.tensor(0.7))
        self.calls = []

    def forward(self, x, edge_index, edge_attr=None, h0=None):
        self.calls.append((edge_attr is not None, h0 is not None))
        out = self.lin(x)
        if edge_attr is not None:  # the mean edge feature of each node's out-edges
            out = out + torch.zeros_like(out).index_add_(0, edge_index[0], edge_attr)
        return torch.tanh(out + self.a * h0 if h0 is not None else out)


def test_a_learnable_sparse_adjacency_gets_its_gradient(coupling_graph):
    """Before: w.grad was None with memory_efficient=True (ordinary autograd: norm 0.66)."""
    from revgnn_edu.models import RevGNN

    n, ei = coupling_graph.num_nodes, coupling_graph.edge_index

    def run(model):
        x = coupling_graph.x[:, :6].clone().requires_grad_()
        w = torch.rand(ei.size(1), dtype=torch.float64, requires_grad=True)
        adj_t = torch.sparse_coo_tensor(ei.flip(0), w, (n, n))  # A^T, weights w
        return [x, w], model(x, adj_t).pow(2).sum()

    torch.manual_seed(0)
    ours, ref = _grads_both_ways(lambda: RevGNN(6, 8, 3, 3, conv="sage").double(), run)
    assert ref[1].norm() > 0.1  # w matters
    _assert_same_grads(ours, ref)


@pytest.mark.parametrize("num_groups", [2, 3])
def test_extra_inputs_that_depend_on_x_get_their_gradients(coupling_graph, num_groups):
    """An initial-residual input H0 and edge features, both computed from x: before,
    neither could reach the blocks with a gradient."""
    ei = coupling_graph.edge_index
    width = D // num_groups

    def build():
        torch.manual_seed(0)
        return nn.ModuleDict(
            {
                "enc": nn.Linear(D, width),
                "edge": nn.Linear(2 * D, width),
                "layers": nn.ModuleList(
                    GroupReversible(lambda i: _H0Block(width), num_groups=num_groups)
                    for _ in range(3)
                ),
            }
        ).double()

    def run(model):
        x = coupling_graph.x.clone().requires_grad_()
        h0 = model["enc"](x)  # H0 depends on x
        e = model["edge"](torch.cat([x[ei[0]], x[ei[1]]], dim=1))  # so does edge_attr
        h = x
        for layer in model["layers"]:
            h = layer(h, ei, e, h0)
        return [x], h.pow(2).sum()

    ours, ref = _grads_both_ways(build, run)
    _assert_same_grads(ours, ref)


def test_blocks_are_called_with_the_arguments_without_trailing_nones(coupling_graph):
    x, ei, e = coupling_graph.x, coupling_graph.edge_index, coupling_graph.edge_attr
    torch.manual_seed(0)
    layer = GroupReversible(lambda i: _H0Block(D // 2), num_groups=2).double()
    h0 = torch.randn(12, D // 2, dtype=torch.float64)
    e = e[:, :1].expand(-1, D // 2)
    for args, expected in [
        ((ei,), (False, False)),
        ((ei, None), (False, False)),
        ((ei, e), (True, False)),
        ((ei, None, h0), (False, True)),
        ((ei, e, h0, None), (True, True)),
    ]:
        for block in layer.blocks:
            block.calls.clear()
        y = layer(x, *args)
        assert all(block.calls == [expected] for block in layer.blocks)
        torch.testing.assert_close(layer.inverse(y, *args), x, rtol=0, atol=1e-12)
    with pytest.raises(TypeError):  # block(x, edge_index, None) is called: it has no 3rd arg
        GroupReversible([GNNBlock(D // 2), GNNBlock(D // 2)]).double()(x, ei, None, h0)


class _GateBlock(nn.Module):
    """Multiplies by a gate it was not given: a closure or a plain attribute."""

    def __init__(self, width, gate):
        super().__init__()
        self.lin = nn.Linear(width, width)
        self.gate = gate  # a callable returning the gate, or a tensor

    def forward(self, x, edge_index):
        gate = self.gate() if callable(self.gate) else self.gate
        return torch.tanh(self.lin(x)) * gate


@pytest.mark.parametrize("how", ["closure over a tensor computed from x", "plain attribute"])
def test_a_tensor_a_block_was_not_given_is_refused(coupling_graph, how):
    """Before: no error, and the tensor (and x through it) silently got no gradient."""
    x = coupling_graph.x.clone().requires_grad_()
    if how == "plain attribute":
        gate = torch.rand(D // 2, dtype=torch.float64, requires_grad=True)
    else:
        gate_of_x = torch.sigmoid(x[:, : D // 2])  # depends on x, built upstream
        gate = lambda: gate_of_x  # noqa: E731
    torch.manual_seed(0)
    layer = GroupReversible([_GateBlock(D // 2, gate) for _ in range(2)]).double()
    loss = layer(x, coupling_graph.edge_index).pow(2).sum()
    with pytest.raises(RuntimeError, match=r"block 1 \(_GateBlock\) reads a tensor that requi"):
        loss.backward()
    layer.memory_efficient = False  # ordinary autograd: fine
    layer(x, coupling_graph.edge_index).pow(2).sum().backward()
    assert x.grad is not None


# -- int32 indices (issue 16.6) ---------------------------------------------------------
def test_int32_edge_index_is_refused_by_the_layer(graph32):
    layer = GroupReversible(lambda i: GNNBlock(4), num_groups=2)
    with pytest.raises(ValueError, match="edge_index must be an integer index of dtype torch.lo"):
        layer(torch.randn(30, 8), graph32.edge_index.int())


@pytest.mark.parametrize("memory_efficient", [True, False])
def test_int32_edge_index_is_converted_by_the_model(graph32, memory_efficient):
    """Before: NaN gradients in both modes (PyTorch's CPU backward of scatter_reduce
    "amax" with a broadcast int32 index)."""
    from revgnn_edu.models import RevGNN

    grads = {}
    for ei in (graph32.edge_index, graph32.edge_index.int()):
        torch.manual_seed(0)
        model = RevGNN(6, 8, 3, 2, edge_dim=4, memory_efficient=memory_efficient)
        x = graph32.x.clone().requires_grad_()
        model(x, ei, graph32.edge_attr).pow(2).sum().backward()
        grads[ei.dtype] = [x.grad] + [p.grad for p in model.parameters()]
    for g32, g64 in zip(grads[torch.int32], grads[torch.int64]):
        assert torch.isfinite(g32).all()
        torch.testing.assert_close(g32, g64, rtol=0, atol=0)


# -- random generators a block holds (issue 16.5) ---------------------------------------
class _OwnGeneratorDropout(nn.Module):
    """tanh(lin(X)) with dropout drawn from a torch.Generator: its own attribute ``gen``,
    or, with ``get_gen``, one captured in a closure."""

    def __init__(self, width, gen=None, get_gen=None):
        super().__init__()
        self.lin, self.gen, self.get_gen = nn.Linear(width, width), gen, get_gen

    def forward(self, x, edge_index):
        gen = self.gen if self.get_gen is None else self.get_gen()
        keep = torch.rand(x.shape, generator=gen, dtype=x.dtype) < 0.5
        return torch.tanh(self.lin(x)) * keep * 2


def test_a_generator_held_by_a_block_is_replayed(coupling_graph):
    """Before: outputs identical, gradients 0.71-0.76 relative error."""
    gen = torch.Generator()

    def build():
        torch.manual_seed(0)
        return nn.ModuleList(
            GroupReversible([_OwnGeneratorDropout(D // 2, gen) for _ in range(2)]) for _ in range(2)
        ).double()

    def run(layers):
        gen = layers[0].blocks[0].gen  # (each copy of the model has its own)
        gen.manual_seed(5)  # the same random numbers in both runs
        x = coupling_graph.x.clone().requires_grad_()
        h = x
        for layer in layers:
            h = layer(h, coupling_graph.edge_index)
        h = h.pow(2).sum()
        gen.manual_seed(123)  # drawn from in between: backward must put the state back
        torch.rand(10, generator=gen)
        return [x], h

    ours, ref = _grads_both_ways(build, run)
    _assert_same_grads(ours, ref)


def test_a_generator_captured_in_a_closure_is_refused(coupling_graph):
    gen = torch.Generator().manual_seed(0)
    layer = GroupReversible([_OwnGeneratorDropout(D // 2, get_gen=lambda: gen) for _ in range(2)])
    loss = layer.double()(coupling_graph.x, coupling_graph.edge_index).pow(2).sum()
    with pytest.raises(RuntimeError, match=r"block 1 \(_OwnGeneratorDropout\) draws random num"):
        loss.backward()


# -- torch.compile (issue 16.4) ----------------------------------------------------------
class _DropoutBlock(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.lin, self.drop = nn.Linear(width, width), nn.Dropout(0.5)

    def forward(self, x, edge_index):
        return self.drop(torch.tanh(self.lin(x)))


@pytest.mark.slow  # compiles (about 3 s)
def test_torch_compile_of_a_layer_with_dropout_blocks_gives_the_right_gradients():
    """Before: the compiled forward drew its masks from the compiler's random numbers
    and the recomputation from the default generator: gradients about 100% off."""
    torch.manual_seed(0)
    layer = GroupReversible([_DropoutBlock(4) for _ in range(2)])
    reference = copy.deepcopy(layer)
    reference.memory_efficient = False
    x0, edge_index = torch.randn(6, 8), torch.randint(0, 6, (2, 10))
    grads = []
    for m in (torch.compile(layer), reference):
        torch.manual_seed(1)
        x = x0.clone().requires_grad_()
        m(x, edge_index).pow(2).sum().backward()
        grads.append([x.grad] + [p.grad for p in m.parameters()])
    for g, g_ref in zip(*grads):
        torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # compiles (about 5 s)
def test_compiled_blocks_inside_the_layer_are_replayed():
    """The docstring's advice: compile the blocks, not the layer; their dropout masks
    (drawn by the compiled code) are the same in the forward pass and the recomputation."""
    torch.manual_seed(0)
    block = torch.compile(_DropoutBlock(4))
    blocks = [block, block]  # one compiled block in both groups: half the compile time
    x0, edge_index = torch.randn(6, 8), torch.randint(0, 6, (2, 10))
    grads = []
    for efficient in (True, False):
        block.zero_grad()
        torch.manual_seed(1)
        x = x0.clone().requires_grad_()
        GroupReversible(blocks, memory_efficient=efficient)(x, edge_index).pow(2).sum().backward()
        grads.append([x.grad] + [p.grad for p in block.parameters()])
    for g, g_ref in zip(*grads):
        torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-6)
