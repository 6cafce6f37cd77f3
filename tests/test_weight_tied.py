"""Weight-tied ResGNN and RevGNN: one block's weights at every layer."""

import copy

import pytest
import torch

from revgnn_edu.complexity import count_parameters as count
from revgnn_edu.complexity import measure_activation_bytes
from revgnn_edu.data import random_graph
from revgnn_edu.models import ResGNN
from revgnn_edu.models.revgnn import RevGNN
from revgnn_edu.models.weight_tied import WTResGNN, WTRevGNN


@pytest.mark.parametrize("cls", [WTResGNN, WTRevGNN])
@pytest.mark.parametrize("num_layers", [1, 5])
def test_shapes_repr_and_one_set_of_weights(graph, cls, num_layers, step):
    model = cls(6, 12, 3, num_layers, edge_dim=4, dropout=0.1).double()
    out, grads = step(model, graph, params=False)
    assert out.shape == (30, 3)
    assert all(
        g is not None and g.shape == t.shape for g, t in zip(grads, (graph.x, graph.edge_attr))
    )
    assert all(p.grad is not None for p in model.parameters())
    head = f"{cls.__name__}(\n  6, 12, 3, num_layers={num_layers}"
    assert str(model).startswith(head)
    # one block (WT-ResGNN) or one reversible layer (WT-RevGNN), whatever the depth
    tied = [m for m in model.modules() if type(m).__name__ in ("ResBlock", "GroupReversible")]
    assert len(tied) == 1


@pytest.mark.parametrize(
    "cls,kwargs",
    [(WTResGNN, {}), (WTRevGNN, {"num_groups": 3}), (WTRevGNN, {"num_groups": 4, "edge_dim": 8})],
)
def test_parameter_count_does_not_depend_on_depth(cls, kwargs):
    counts = {L: count(cls(16, 24, 5, L, **kwargs)) for L in (1, 2, 10, 100)}
    assert len(set(counts.values())) == 1, counts
    untied = ResGNN if cls is WTResGNN else RevGNN
    assert counts[1] == count(untied(16, 24, 5, 1, **kwargs))  # = one untied layer
    assert count(untied(16, 24, 5, 10, **kwargs)) > 2 * counts[10]  # untied: O(L D^2)


def tie(untied, tied_block, layers):
    """Copy the one tied block's weights into every layer of an untied model."""
    for layer in layers(untied):
        layer.load_state_dict(tied_block.state_dict())
    return untied


def test_wt_resgnn_is_a_resgnn_with_equal_layers(graph, step):
    torch.manual_seed(0)
    wt = WTResGNN(6, 12, 3, 4, edge_dim=4).double()
    res = ResGNN(6, 12, 3, 4, edge_dim=4).double()
    res.load_state_dict(
        {k: v for k, v in wt.state_dict().items() if not k.startswith("block.")}, strict=False
    )
    tie(res, wt.block, lambda m: m.layers)
    out, grads = step(wt, graph, params=False)
    out_ref, grads_ref = step(res, graph, params=False)
    torch.testing.assert_close(out, out_ref, rtol=0, atol=1e-12)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, rtol=0, atol=1e-10)
    # the tied weights' gradient is the sum of the untied layers' gradients
    for name, p in wt.block.named_parameters():
        total = sum(dict(layer.named_parameters())[name].grad for layer in res.layers)
        torch.testing.assert_close(p.grad, total, rtol=0, atol=1e-10)


@pytest.mark.parametrize("num_groups", [2, 3])
@pytest.mark.parametrize("num_layers", [1, 4])
def test_wt_revgnn_gradients_match_ordinary_autograd(graph, num_groups, num_layers, step):
    torch.manual_seed(0)
    model = WTRevGNN(6, 12, 3, num_layers, num_groups=num_groups, edge_dim=4, dropout=0.2).double()
    ref = copy.deepcopy(model)
    ref.memory_efficient = False
    assert model.memory_efficient and not ref.memory_efficient
    out, grads = step(model, graph, params=False)
    out_ref, grads_ref = step(ref, graph, params=False)
    torch.testing.assert_close(out, out_ref, rtol=0, atol=1e-12)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, rtol=0, atol=1e-10)
    for p, p_ref in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, p_ref.grad, rtol=0, atol=1e-10)


def test_wt_revgnn_is_a_revgnn_with_equal_layers(graph, step):
    torch.manual_seed(0)
    wt = WTRevGNN(6, 12, 3, 3, edge_dim=4, dropout=0.3).double()
    rev = RevGNN(6, 12, 3, 3, edge_dim=4, dropout=0.3).double()
    rev.load_state_dict(
        {k: v for k, v in wt.state_dict().items() if not k.startswith("layer.")}, strict=False
    )
    tie(rev, wt.layer, lambda m: m.layers)
    out, grads = step(wt, graph, params=False)
    out_ref, grads_ref = step(rev, graph, params=False)  # same seed: the same shared dropout mask
    torch.testing.assert_close(out, out_ref, rtol=0, atol=1e-12)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, rtol=0, atol=1e-10)
    for name, p in wt.layer.named_parameters():
        total = sum(dict(layer.named_parameters())[name].grad for layer in rev.layers)
        torch.testing.assert_close(p.grad, total, rtol=0, atol=1e-10)


def test_wt_revgnn_draws_one_mask_per_forward_pass(graph):
    torch.manual_seed(0)
    model = WTRevGNN(6, 12, 3, 3, dropout=0.5).double()
    out1 = model(graph.x, graph.edge_index)
    masks = [d.mask for d in model.group_dropouts]
    assert masks[0].shape == (30, 6)
    assert all(b.dropout is d for b, d in zip(model.layer.blocks, model.group_dropouts))
    out2 = model(graph.x, graph.edge_index)
    assert not torch.allclose(out1, out2)  # a new mask for a new forward pass
    model.eval()
    assert all(d.mask is not None for d in model.group_dropouts)
    torch.testing.assert_close(
        model(graph.x, graph.edge_index), model(graph.x, graph.edge_index), rtol=0, atol=0
    )
    assert all(d.mask is None for d in model.group_dropouts)


def test_wt_revgnn_folded_edge_encoder_is_the_same_function(graph, step):
    models = []
    for fold in (False, True):
        torch.manual_seed(0)
        models.append(WTRevGNN(6, 12, 3, 3, edge_dim=4, fold_edge_encoder=fold).double())
    assert models[1].fold_edge_encoder and count(models[0]) == count(models[1])
    (out, grads), (out_f, grads_f) = (step(m, graph, params=False) for m in models)
    torch.testing.assert_close(out_f, out, rtol=0, atol=1e-12)
    for g, g_f in zip(grads, grads_f):
        torch.testing.assert_close(g_f, g, rtol=0, atol=1e-10)
    for p, p_f in zip(*(m.parameters() for m in models)):
        torch.testing.assert_close(p_f.grad, p.grad, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (
            dict(hidden_channels=10, num_groups=3),
            "hidden_channels=10 must split into num_groups=3 equal groups",
        ),
        (dict(num_groups=1), "num_groups=1"),
        (dict(num_layers=0), "num_layers must be a positive integer, got 0"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = dict(in_channels=6, hidden_channels=12, out_channels=3, num_layers=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        WTRevGNN(**args)


def test_wt_resgnn_memory_grows_and_wt_revgnn_memory_stays_flat():
    graph = random_graph(100, 400, 8, edge_dim=4, num_classes=3, seed=0)
    mem = {}
    for cls in (WTResGNN, WTRevGNN):
        for depth in (4, 32):
            torch.manual_seed(0)
            model = cls(8, 16, 3, depth, edge_dim=4)
            mem[cls.__name__, depth] = measure_activation_bytes(model, graph)
    assert mem["WTRevGNN", 32] == mem["WTRevGNN", 4]
    assert mem["WTResGNN", 32] > 4 * mem["WTResGNN", 4]
