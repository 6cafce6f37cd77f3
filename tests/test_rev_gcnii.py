"""GCNII's block in a reversible layer, the RevGCNII model, and the normalised adjacency."""

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch_geometric.nn import GCN2Conv

from revgnn_edu.data import random_graph
from revgnn_edu.models import PlainGNN, RevGCNII
from revgnn_edu.nn import GCNIIBlock, GroupReversible, gcn_adjacency, uniform_dropout


def dense_gcn_adjacency(edge_index, n):
    """D^-1/2 (A + I) D^-1/2 by hand, row i = the messages node i receives (self-loops
    already in the graph are kept once, as PyG's add_remaining_self_loops does)."""
    a = torch.zeros(n, n, dtype=torch.float64)
    src, dst = edge_index
    a.index_put_((dst, src), torch.ones(src.numel(), dtype=torch.float64), accumulate=True)
    diag = a.diagonal().clone()
    a.diagonal().copy_(torch.where(diag > 0, diag, torch.ones_like(diag)))
    d = a.sum(1).pow(-0.5)
    return d[:, None] * a * d[None, :]


def test_gcn_adjacency_is_the_normalised_matrix_of_a_directed_graph(graph):
    n = graph.num_nodes
    adj = gcn_adjacency(graph.edge_index, n, dtype=torch.float64)
    assert adj.layout == torch.sparse_coo and adj.shape == (n, n)
    assert torch.allclose(adj.to_dense(), dense_gcn_adjacency(graph.edge_index, n))


def test_gcn_adjacency_bad_input(graph):
    with pytest.raises(ValueError, match=r"dense long tensor of shape \(2, E\), got torch.int32"):
        gcn_adjacency(graph.edge_index.int(), 30)
    with pytest.raises(ValueError, match=r"outside 0..9 \(num_nodes=10\)"):
        gcn_adjacency(graph.edge_index, 10)
    with pytest.raises(ValueError, match="num_nodes must be a positive integer, got 0"):
        gcn_adjacency(graph.edge_index, 0)


@pytest.mark.parametrize("group", [0, 2])
def test_block_is_gcnii_layer_then_relu(graph, group):
    """Without dropout and with s = 1 the block is PyG's GCN2Conv (which normalises the
    graph itself) followed by a ReLU, on its own group of H0."""
    g, n = 4, graph.num_nodes
    block = GCNIIBlock(g, layer=3, alpha=0.2, theta=0.7, group=group).double()
    conv = GCN2Conv(g, alpha=0.2, theta=0.7, layer=3).double()
    conv.weight1.data.copy_(block.weight.data)
    x, h0 = torch.randn(n, g, dtype=torch.float64), torch.randn(n, 3 * g, dtype=torch.float64)
    adj = gcn_adjacency(graph.edge_index, n, dtype=torch.float64)
    h0_i = h0[:, group * g : (group + 1) * g]
    expected = conv(x, h0_i, graph.edge_index).relu()
    assert torch.allclose(block(x, adj, h0), expected)
    assert block.beta == pytest.approx(conv.beta)
    scaled = GCNIIBlock(g, layer=3, alpha=0.2, theta=0.7, group=group, scale=0.25).double()
    scaled.load_state_dict(block.state_dict())
    assert torch.allclose(scaled(x, adj, h0), 0.25 * expected)


def test_block_bad_arguments(graph):
    adj = gcn_adjacency(graph.edge_index, 30)
    x, h0 = torch.randn(30, 4), torch.randn(30, 8)
    with pytest.raises(ValueError, match="alpha must be in"):
        GCNIIBlock(4, 1, alpha=1.0)
    with pytest.raises(ValueError, match="theta must be a positive finite number, got 0"):
        GCNIIBlock(4, 1, theta=0)
    with pytest.raises(ValueError, match="layer must be a positive integer, got 0"):
        GCNIIBlock(4, 0)
    with pytest.raises(ValueError, match="group must be an integer >= 0, got -1"):
        GCNIIBlock(4, 1, group=-1)
    with pytest.raises(ValueError, match="normalised adjacency as a sparse matrix"):
        GCNIIBlock(4, 1)(x, graph.edge_index, h0)
    with pytest.raises(ValueError, match=r"D >= 12 to hold group 2 of width 4, got \(30, 8\)"):
        GCNIIBlock(4, 1, group=2)(x, adj, h0)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 4\), got \(30, 8\)"):
        GCNIIBlock(4, 1)(h0, adj, h0)


def test_h0_gets_its_gradient_through_a_memory_saving_stack(graph, central_difference):
    """H0 is an extra argument of every layer: its gradient through three reversible
    layers matches ordinary autograd and central differences (float64, dropout on)."""
    n, g = graph.num_nodes, 3
    layers = [
        GroupReversible([GCNIIBlock(g, l, alpha=0.3, group=i, dropout=0.2) for i in range(2)])
        for l in (1, 2, 3)
    ]
    stack = torch.nn.ModuleList(layers).double()
    adj = gcn_adjacency(graph.edge_index, n, dtype=torch.float64)
    h0 = torch.randn(n, 2 * g, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(n, 2 * g, dtype=torch.float64)

    def loss(memory_efficient=True):
        for layer in stack:
            layer.memory_efficient = memory_efficient
        torch.manual_seed(3)  # the same dropout masks in every evaluation
        z = h0.new_zeros(n, 2 * g)
        for layer in stack:
            z = layer(z, adj, h0)
        return (z * weights).sum()

    loss().backward()
    saving = h0.grad.clone()
    h0.grad = None
    loss(memory_efficient=False).backward()
    assert saving.abs().sum() > 0
    assert torch.allclose(saving, h0.grad, rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        numeric = central_difference(loss, h0, indices=range(0, 2 * g * n, 7))
    assert torch.allclose(saving.view(-1)[0 : 2 * g * n : 7], numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("num_groups", [2, 3])
@pytest.mark.parametrize("num_layers", [1, 4])
def test_model_gradients_match_ordinary_autograd(graph, step, num_groups, num_layers):
    model = RevGCNII(
        6, 12, 3, num_layers, num_groups=num_groups, alpha=0.2, dropout=0.3, input_dropout=0.5
    ).double()
    ref = copy.deepcopy(model)
    ref.memory_efficient = False
    out, grads = step(model, graph)
    out_ref, grads_ref = step(ref, graph)
    assert out.shape == (30, 3)
    assert torch.allclose(out, out_ref)
    names = ["x"] + [name for name, _ in model.named_parameters()]
    assert len(grads) == len(grads_ref) == len(names)
    for name, a, b in zip(names, grads, grads_ref):
        assert a is not None and a.abs().sum() > 0, name  # every input and parameter
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12), name


def test_model_structure_and_repr():
    model = RevGCNII(6, 12, 3, 4, num_groups=3, alpha=0.2, theta=0.5, dropout=0.3)
    assert model.memory_efficient and model.group_width == 4 and len(model.layers) == 4
    blocks = [b for layer in model.layers for b in layer.blocks]
    assert [b.layer for b in blocks] == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert [b.group for b in blocks[:3]] == [0, 1, 2]
    assert all(b.scale == 0.5 and b.dropout == 0.3 for b in blocks)  # s = L^-1/2
    assert model.node_encoder.dropout == 0.3  # input_dropout=None: the dropout
    assert RevGCNII(6, 12, 3, 4, dropout=0.3, input_dropout=0.8).node_encoder.dropout == 0.8
    # GCNII's identity mapping: W starts uniform in [-1/sqrt(g), 1/sqrt(g)]
    assert blocks[0].weight.abs().max() <= 0.5
    assert str(model).startswith(
        "RevGCNII(\n  6, 12, 3, num_layers=4, num_groups=3, alpha=0.2, theta=0.5, "
        "memory_efficient=True\n"
    )
    assert "GCNIIBlock(4, layer=2, alpha=0.2, theta=0.5, group=1, dropout=0.3, scale=0.5)" in str(
        model
    )
    model.memory_efficient = False
    assert not any(layer.memory_efficient for layer in model.layers)


def test_model_bad_arguments():
    with pytest.raises(ValueError, match="RevGCNII takes no edge features.*edge_dim=4"):
        RevGCNII(6, 12, 3, 2, edge_dim=4)
    with pytest.raises(ValueError, match="hidden_channels=12 must split into num_groups=5"):
        RevGCNII(6, 12, 3, 2, num_groups=5)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\), got -0.1"):
        RevGCNII(6, 12, 3, 2, alpha=-0.1)
    with pytest.raises(ValueError, match="theta must be a positive finite number"):
        RevGCNII(6, 12, 3, 2, theta=float("inf"))
    with pytest.raises(ValueError, match=r"input_dropout must be in \[0, 1\), got 1.0"):
        RevGCNII(6, 12, 3, 2, input_dropout=1.0)


def test_a_changed_graph_is_never_stale(graph):
    """The adjacency is built in every forward pass: after another graph, the model
    gives what a copy that never saw that graph gives."""
    model = RevGCNII(6, 8, 3, 3, dropout=0.2).double().eval()
    fresh = copy.deepcopy(model)
    other = random_graph(30, 60, 6, seed=5, dtype=torch.float64)
    with torch.no_grad():
        on_other = model(graph.x, other.edge_index)
        again = model(graph.x, graph.edge_index)
        assert torch.allclose(again, fresh(graph.x, graph.edge_index))
        assert not torch.allclose(on_other, again)


@pytest.mark.parametrize("layout", [torch.sparse_coo, torch.sparse_csr])
def test_sparse_features_give_the_dense_result(graph, layout):
    x = graph.x * (graph.x > 0.5)  # a sparse bag of features
    xs = x.to_sparse() if layout == torch.sparse_coo else x.to_sparse_csr()
    for model in (RevGCNII(6, 8, 3, 2, dropout=0.5).double(), PlainGNN(6, 8, 3, 2, dropout=0.5)):
        model = model.double().eval()
        with torch.no_grad():
            assert torch.allclose(model(xs, graph.edge_index), model(x, graph.edge_index))


def test_uniform_dropout():
    x = torch.ones(200, 500, dtype=torch.float64)
    out = uniform_dropout(x, 0.8)
    kept = (out != 0).double().mean().item()
    assert abs(kept - 0.2) < 0.01  # 100,000 draws: std of the kept share 0.0013
    assert torch.all((out == 0) | torch.isclose(out, torch.tensor(5.0, dtype=out.dtype)))
    assert uniform_dropout(x, 0.8, training=False) is x and uniform_dropout(x, 0.0) is x
    sparse = torch.eye(300, dtype=torch.float64).to_sparse()
    dropped = uniform_dropout(sparse, 0.5)
    assert dropped.layout == torch.sparse_coo and dropped._nnz() == 300  # values dropped
    assert set(dropped.values().tolist()) <= {0.0, 2.0}
    assert 100 < int((dropped.values() != 0).sum()) < 200
    csr = uniform_dropout(torch.eye(300).to_sparse_csr(), 0.5)
    assert csr.layout == torch.sparse_csr and set(csr.values().tolist()) <= {0.0, 2.0}
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\), got 1.5"):
        uniform_dropout(x, 1.5)


@pytest.mark.parametrize("layout", ["to_sparse", "to_sparse_csr"])
def test_sparse_dropout_prints_no_invariant_warning(layout):
    # torch warns once per process, so a fresh interpreter sees the first sparse tensor built
    code = (
        "import torch\n"
        "from revgnn_edu.nn import uniform_dropout\n"
        f"uniform_dropout(torch.eye(5).{layout}(), 0.5)\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert "Sparse invariant checks" not in run.stderr, run.stderr


def test_cora_recipes_build_their_models_and_share_one_rule(graph):
    from revgnn_edu.recipes import CORA_RULE, get_recipe, prepare_features

    gcn, rev = get_recipe("gcn"), get_recipe("rev-gcnii")
    assert isinstance(gcn.build(6, 3), PlainGNN) and gcn.title() == "2-layer GCN"
    model = rev.build(6, 3, num_layers=2, memory_efficient=False)
    assert isinstance(model, RevGCNII) and model.num_layers == 2 and not model.memory_efficient
    assert rev.title(num_layers=2) == "2-layer RevGCNII"
    assert rev.settings["num_layers"] >= 16  # the goal is about a deep model
    assert gcn.fit_kwargs == {"lr": 0.01, "weight_decay": {"convs.0.": 5e-4, "": 0.0}}
    assert CORA_RULE == {"epochs": 1000, "patience": 100, "select": "val_loss"}
    with pytest.raises(ValueError, match="recipe must be one of 'gcn', 'rev-gcnii', got 'GCN'"):
        get_recipe("GCN")
    data = graph.clone()
    data.x = data.x.abs()
    prepared = prepare_features(data)
    assert prepared.x.layout == torch.sparse_coo and data.x.layout == torch.strided
    assert torch.allclose(prepared.x.to_dense().sum(1), torch.ones(30, dtype=torch.float64))
