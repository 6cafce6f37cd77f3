import copy

import pytest
import torch
from torch_geometric.nn import GraphConv, GroupAddRev

from revgnn_edu.complexity import measure_activation_bytes
from revgnn_edu.data import random_graph
from revgnn_edu.models import ResGNN
from revgnn_edu.models.revgnn import RevGNN


def twin(model):
    """The same weights, trained with ordinary autograd."""
    ref = copy.deepcopy(model)
    ref.memory_efficient = False
    return ref


@pytest.mark.parametrize("num_groups", [2, 3])
@pytest.mark.parametrize("num_layers", [1, 4])
@pytest.mark.parametrize("conv", ["gen", "sage"])
def test_shapes_and_repr(graph, num_groups, num_layers, conv, step):
    edge_dim = 4 if conv == "gen" else None
    model = RevGNN(
        6, 12, 3, num_layers, num_groups=num_groups, edge_dim=edge_dim, dropout=0.1, conv=conv
    ).double()
    out, grads = step(model, graph)
    assert out.shape == (30, 3)
    assert all(g is not None for g in grads)
    assert len(model.layers) == num_layers
    assert model.layers[0].num_groups == num_groups
    assert str(model).startswith(
        f"RevGNN(\n  6, 12, 3, num_layers={num_layers}, "
        f"num_groups={num_groups}, memory_efficient=True\n"
    )


@pytest.mark.parametrize("num_groups", [2, 3, 4])
@pytest.mark.parametrize("num_layers", [1, 4])
def test_gradients_match_ordinary_autograd(graph, num_groups, num_layers, step):
    torch.manual_seed(0)
    model = RevGNN(6, 12, 3, num_layers, num_groups=num_groups, edge_dim=4, dropout=0.2).double()
    out, grads = step(model, graph)
    out_ref, grads_ref = step(twin(model), graph)
    torch.testing.assert_close(out, out_ref, rtol=0, atol=1e-12)
    assert len(grads) == len(grads_ref)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, rtol=0, atol=1e-10)


def test_gradients_match_in_float32(graph, step):
    """float32: the rebuilt activations carry rounding errors; agree to 1e-4."""
    torch.manual_seed(0)
    model = RevGNN(6, 16, 3, 16, edge_dim=4, dropout=0.1)
    graph32 = copy.copy(graph)
    graph32.x, graph32.edge_attr = graph.x.float(), graph.edge_attr.float()
    _, grads = step(model, graph32)
    _, grads_ref = step(twin(model), graph32)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=1e-5)


def test_matches_a_model_built_on_pyg_group_add_rev(graph, step):
    torch.manual_seed(0)
    model = RevGNN(6, 12, 3, 3, dropout=0.2).double()  # no edge features: GroupAddRev
    for layer in model.layers:  # GroupAddRev draws no seeds (SharedDropout needs none):
        layer.preserve_rng_state = False  # the head's dropout then gets the same numbers
    pyg = copy.deepcopy(model)  # would split D-wide edge features into the groups
    pyg.layers = torch.nn.ModuleList(GroupAddRev(layer.blocks) for layer in pyg.layers)
    out, grads = step(model, graph)
    out_pyg, grads_pyg = step(pyg, graph)
    torch.testing.assert_close(out, out_pyg, rtol=0, atol=1e-12)
    for g, g_pyg in zip(grads, grads_pyg):
        torch.testing.assert_close(g, g_pyg, rtol=0, atol=1e-10)


def test_inference_frees_nothing_and_matches_training(graph):
    torch.manual_seed(0)
    model = RevGNN(6, 12, 3, 4, edge_dim=4).double()  # dropout 0: train == eval
    x = graph.x.clone()
    train_out = model(x, graph.edge_index, graph.edge_attr)
    with torch.no_grad():
        no_grad_out = model(x, graph.edge_index, graph.edge_attr)
    model.eval()
    eval_out = model(x, graph.edge_index, graph.edge_attr)
    torch.testing.assert_close(x, graph.x, rtol=0, atol=0)  # x is still readable
    torch.testing.assert_close(no_grad_out, train_out, rtol=0, atol=1e-12)
    torch.testing.assert_close(eval_out, train_out, rtol=0, atol=1e-12)


def test_shared_dropout_one_mask_per_forward_pass(graph):
    torch.manual_seed(0)
    model = RevGNN(6, 12, 3, 2, dropout=0.5).double()
    out1 = model(graph.x, graph.edge_index)
    mask1 = [d.mask for d in model.group_dropouts]
    out2 = model(graph.x, graph.edge_index)
    assert not torch.allclose(out1, out2)  # a new mask each forward pass
    assert mask1[0].shape == (30, 6)  # group i uses column block i of one N x D mask
    blocks = [block for layer in model.layers for block in layer.blocks]
    assert all(b.dropout is model.group_dropouts[i % 2] for i, b in enumerate(blocks))
    model.eval()
    torch.testing.assert_close(
        model(graph.x, graph.edge_index), model(graph.x, graph.edge_index), rtol=0, atol=0
    )


def test_parameters_per_layer():
    def count(model):
        return sum(p.numel() for p in model.parameters())

    D = 16
    for C in (2, 4, 8):
        g = D // C
        one, two = (RevGNN(6, D, 3, L, num_groups=C, edge_dim=4) for L in (1, 2))
        per_layer = count(two) - count(one)
        # each group: LayerNorm 2g, edge projection D -> g, MLP [g, 2g, g] with LayerNorm
        assert per_layer == C * (2 * g + (D * g + g) + (4 * g * g + 7 * g))
        if C == 2:  # the official code's count
            assert per_layer == 12 * g * g + 20 * g
    # RevGNN-Deep on ogbn-proteins (1001 layers x 80 channels, 8 edge features, 112
    # tasks, plus a Linear(8, 8) species encoder outside this model): 20,031,384
    one, two = (RevGNN(16, 80, 112, L, edge_dim=8) for L in (1, 2))
    assert count(one) + 1000 * (count(two) - count(one)) + 8 * 8 + 8 == 20_031_384


def test_any_pyg_conv(graph, step):
    model = RevGNN(6, 8, 3, 2, conv=lambda i, o: GraphConv(i, o)).double()
    out, grads = step(model, graph)
    _, grads_ref = step(twin(model), graph)
    assert out.shape == (30, 3)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (
            dict(hidden_channels=10, num_groups=3),
            "hidden_channels=10 must split into num_groups=3 equal groups",
        ),
        (dict(num_groups=1), "num_groups=1"),
        (dict(num_groups=0), "num_groups must be a positive integer, got 0"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = dict(in_channels=6, hidden_channels=12, out_channels=3, num_layers=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        RevGNN(**args)


def test_activation_memory_does_not_grow_with_depth():
    graph = random_graph(100, 400, 8, edge_dim=4, num_classes=3, seed=0)
    mem = {}
    for cls in (RevGNN, ResGNN):
        for depth in (4, 32):
            torch.manual_seed(0)
            mem[cls.__name__, depth] = measure_activation_bytes(
                cls(8, 16, 3, depth, edge_dim=4, dropout=0.1), graph
            )
    assert mem["RevGNN", 32] <= 1.05 * mem["RevGNN", 4]
    assert mem["ResGNN", 32] > 4 * mem["ResGNN", 4]


@pytest.mark.parametrize("memory_efficient", [True, False])
def test_folded_edge_encoder_is_the_same_function_with_the_same_parameters(memory_efficient):
    """Folding W_e (F_e -> D) into each block's W_p (D -> D/C) changes only the order of
    the products: same parameter count, outputs and gradients (float64)."""
    graph = random_graph(30, 120, 6, edge_dim=4, seed=0, dtype=torch.float64)
    models = []
    for fold in (False, True):
        torch.manual_seed(0)
        models.append(
            RevGNN(
                6, 12, 3, 3, edge_dim=4, fold_edge_encoder=fold, memory_efficient=memory_efficient
            ).double()
        )
    plain, folded = models
    assert folded.fold_edge_encoder and not plain.fold_edge_encoder
    assert [n for n, _ in plain.named_parameters()] == [n for n, _ in folded.named_parameters()]
    for (_, a), (_, b) in zip(plain.named_parameters(), folded.named_parameters()):
        assert torch.equal(a, b)
    outs = []
    for model in models:
        out = model(graph.x, graph.edge_index, graph.edge_attr)
        out.pow(2).sum().backward()
        outs.append(out)
    torch.testing.assert_close(outs[1], outs[0], rtol=0, atol=1e-12)
    for (name, a), (_, b) in zip(plain.named_parameters(), folded.named_parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=0, atol=1e-10, msg=name)
    assert folded.edge_encoder.weight.grad.abs().sum() > 0  # W_e is trained through the fold


def test_folding_needs_a_gen_block_with_an_edge_projection():
    from revgnn_edu.nn import GNNBlock

    with pytest.raises(ValueError, match="edge_encoder folding needs a GENConv block"):
        GNNBlock(8, "gcn", edge_encoder=torch.nn.Linear(4, 16))


# -- each forward pass's dropout mask travels with its own autograd state (issue 11.1) --
def _two_graphs(graph, n_second):
    from revgnn_edu.data import random_graph

    return graph, random_graph(
        n_second, 100, 6, edge_dim=4, num_classes=3, seed=7, dtype=torch.float64
    )


def _loss(model, g):
    return model(g.x, g.edge_index, g.edge_attr).pow(2).sum()


def _two_forwards(model, g1, g2):
    (_loss(model, g1) + _loss(model, g2)).backward()


def _eval_forward_in_between(model, g1, g2):
    loss = _loss(model, g1)
    model.eval()
    _loss(model, g2)
    model.train()
    loss.backward()


@pytest.mark.parametrize("cls", ["RevGNN", "WTRevGNN"])
@pytest.mark.parametrize("n_second", [30, 25])  # the same and a different node count
@pytest.mark.parametrize("run", [_two_forwards, _eval_forward_in_between])
def test_dropout_mask_travels_with_its_forward_pass(graph, cls, n_second, run):
    """Two forward passes, then one backward (or an eval pass in between): before, the
    backward recomputation used the last forward's mask (gradients 24-43% off), raised
    a mask-shape error for another node count, or 'no mask' after an eval pass."""
    from revgnn_edu.models import WTRevGNN

    torch.manual_seed(0)
    model = {"RevGNN": RevGNN, "WTRevGNN": WTRevGNN}[cls](
        6, 12, 3, 2, edge_dim=4, dropout=0.5
    ).double()
    ref = twin(model)
    g1, g2 = _two_graphs(graph, n_second)
    for m in (model, ref):
        torch.manual_seed(3)
        run(m, g1, g2)
    for p, p_ref in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, p_ref.grad, rtol=1e-9, atol=1e-10)


# -- edge features are checked in both directions (issue 11.3) --------------------------
def _all_models():
    from revgnn_edu.models import DEQGNN, PlainGNN, WTResGNN, WTRevGNN

    return [PlainGNN, ResGNN, RevGNN, WTResGNN, WTRevGNN, DEQGNN]


@pytest.mark.parametrize("cls", _all_models(), ids=lambda c: c.__name__)
def test_edge_features_given_to_a_model_without_edge_dim(graph32, cls):
    model = cls(6, 8, 3, 2)
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__} takes no edge features \(it was "
        r"built without edge_dim\), but edge_attr of "
        r"shape \(120, 4\) was given",
    ):
        model(graph32.x, graph32.edge_index, graph32.edge_attr)


@pytest.mark.parametrize("cls", _all_models()[1:], ids=lambda c: c.__name__)
def test_edge_features_missing_or_of_the_wrong_shape(graph32, cls):
    model = cls(6, 8, 3, 2, edge_dim=4)
    x, ei, e = graph32.x, graph32.edge_index, graph32.edge_attr
    name = cls.__name__
    with pytest.raises(ValueError, match=f"{name} was built with edge_dim=4 but edge_attr is None"):
        model(x, ei)
    with pytest.raises(
        ValueError,
        match=rf"{name}: edge_attr must have shape \(num_edges, "
        r"4\), got \(120, 5\)",
    ):
        model(x, ei, torch.randn(120, 5))
    with pytest.raises(
        ValueError, match=f"{name}: edge_attr has 119 rows but edge_index has 120 edges"
    ):
        model(x, ei, e[:119])


def test_a_block_without_edge_dim_refuses_edge_features(graph32):
    from revgnn_edu.nn import GNNBlock

    block = GNNBlock(4, "gen")  # GENConv would use the raw features as messages
    with pytest.raises(ValueError, match="GNNBlock takes no edge features"):
        block(torch.randn(30, 4), graph32.edge_index, torch.randn(120, 4))
    with pytest.raises(
        ValueError, match="conv GCNConv takes no edge features, but edge_dim=4 was given"
    ):
        GNNBlock(4, "gcn", edge_dim=4)


# -- fold_edge_encoder keeps the state dict (issue 11.7) --------------------------------
@pytest.mark.parametrize("cls", ["RevGNN", "WTRevGNN"])
def test_folded_and_unfolded_checkpoints_are_interchangeable(graph, cls):
    """Before, the shared encoder was registered again in every block: 248 instead of
    208 state-dict keys for 10 layers, and checkpoints did not load across the flag."""
    from revgnn_edu.models import WTRevGNN

    make = {"RevGNN": RevGNN, "WTRevGNN": WTRevGNN}[cls]
    plain, folded = (
        make(6, 12, 3, 10, edge_dim=4, fold_edge_encoder=f).double() for f in (False, True)
    )
    assert list(plain.state_dict()) == list(folded.state_dict())
    if cls == "RevGNN":
        assert len(plain.state_dict()) == 208
    for src, dst in ((plain, folded), (folded, plain)):
        dst.load_state_dict(src.state_dict())  # strict: the same keys and shapes
        dst.eval(), src.eval()
        with torch.no_grad():
            torch.testing.assert_close(
                dst(graph.x, graph.edge_index, graph.edge_attr),
                src(graph.x, graph.edge_index, graph.edge_attr),
                rtol=1e-10,
                atol=1e-12,
            )


def test_checkpoints_with_the_old_per_block_encoder_copies_still_load(graph):
    folded = RevGNN(6, 12, 3, 2, edge_dim=4, fold_edge_encoder=True).double()
    state = folded.state_dict()
    for l in range(2):  # what fold_edge_encoder=True used to write: one copy per block
        for i in range(2):
            for name in ("weight", "bias"):
                state[f"layers.{l}.blocks.{i}.edge_encoder.{name}"] = state[
                    f"edge_encoder.{name}"
                ].clone()
    fresh = RevGNN(6, 12, 3, 2, edge_dim=4, fold_edge_encoder=True).double()
    fresh.load_state_dict(state)  # strict
    fresh.eval(), folded.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            fresh(graph.x, graph.edge_index, graph.edge_attr),
            folded(graph.x, graph.edge_index, graph.edge_attr),
        )
