"""Shared fixtures: the small graphs and the helpers several test files use."""

import pytest
import torch

from revgnn_edu.data import random_graph

# One thread: quick for the small graphs of the unit tests, and deterministic.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def graph():
    """30 nodes, 120 edges, 6 node features, 4 edge features, 3 classes, float64."""
    return random_graph(30, 120, 6, edge_dim=4, num_classes=3, seed=0, dtype=torch.float64)


@pytest.fixture(scope="session")
def fake_proteins(tmp_path_factory):
    """``fake_proteins(num_nodes=300, num_edges=3000, seed=0) -> root``: a fake
    ogbn-proteins (``make_fake_ogbn_proteins``), written and processed once per session
    and size. Shared by every test: copy its folder before damaging it."""
    from revgnn_edu.data import load_ogbn_proteins, make_fake_ogbn_proteins

    made = {}

    def make(num_nodes: int = 300, num_edges: int = 3000, seed: int = 0):
        key = (num_nodes, num_edges, seed)
        if key not in made:
            root = tmp_path_factory.mktemp(f"proteins_{num_nodes}_{num_edges}_{seed}")
            make_fake_ogbn_proteins(root, num_nodes, num_edges, seed=seed)
            load_ogbn_proteins(root)  # processed now, before processes read it at once
            made[key] = root
        return made[key]

    return make


@pytest.fixture(scope="session")
def proteins_root(fake_proteins):
    """The default fake ogbn-proteins of :func:`fake_proteins` (300 nodes, 3000 edges)."""
    return fake_proteins()


@pytest.fixture
def graph32():
    """The same graph in float32."""
    return random_graph(30, 120, 6, edge_dim=4, num_classes=3, seed=0)


def _step(model, graph, seed=1, params=True):
    """One training step (cross-entropy on every node) under a fixed seed: the output
    and the gradients of x, of edge_attr (when the model takes it) and, with
    ``params=True``, of every parameter."""
    x = graph.x.clone().requires_grad_()
    e = graph.edge_attr.clone().requires_grad_() if model.edge_dim else None
    torch.manual_seed(seed)  # the same dropout masks for every model
    out = model(x, graph.edge_index, e)
    torch.nn.functional.cross_entropy(out, graph.y).backward()
    grads = [x.grad] + ([e.grad] if e is not None else [])
    return out.detach(), grads + ([p.grad for p in model.parameters()] if params else [])


@pytest.fixture
def step():
    """``step(model, graph, seed=1, params=True) -> (output, gradients)``."""
    return _step


def _central_difference(loss_fn, t, indices=None, eps=1e-6):
    """d loss / d t at the flat ``indices`` of ``t`` (all entries by default), by
    (L(t + eps e_i) - L(t - eps e_i)) / (2 eps); returned flat, one entry per index."""
    flat = t.data.view(-1)
    indices = range(flat.numel()) if indices is None else indices
    out = []
    for i in indices:
        orig = flat[i].item()
        flat[i] = orig + eps
        plus = float(loss_fn())
        flat[i] = orig - eps
        minus = float(loss_fn())
        flat[i] = orig
        out.append((plus - minus) / (2 * eps))
    return torch.tensor(out, dtype=t.dtype)


@pytest.fixture
def central_difference():
    """``central_difference(loss_fn, t, indices=None, eps=1e-6) -> flat tensor``."""
    return _central_difference
