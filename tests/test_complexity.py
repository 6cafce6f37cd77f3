"""complexity.py: exact parameter counts, memory estimates close to the meter."""

import warnings

import pytest
import torch

from revgnn_edu.complexity import (
    COMPLEXITY,
    MODELS,
    activation_sweep,
    block_parameters,
    count_parameters,
    measure_activation_bytes,
    predict_activation_bytes,
    predict_parameters,
)
from revgnn_edu.data import random_graph
from revgnn_edu.models import ResGNN
from revgnn_edu.models.deq import DEQGNN
from revgnn_edu.models.revgnn import RevGNN
from revgnn_edu.models.weight_tied import WTResGNN, WTRevGNN
from revgnn_edu.nn import GNNBlock
from revgnn_edu.solvers import ConvergenceWarning

CLASSES = {
    "ResGNN": ResGNN,
    "RevGNN": RevGNN,
    "WT-ResGNN": WTResGNN,
    "WT-RevGNN": WTRevGNN,
    "DEQ-GNN": DEQGNN,
}


def build(name, F, D, O, L, C=2, edge_dim=None, **kwargs):
    if "Rev" in name:
        kwargs["num_groups"] = C
    return CLASSES[name](F, D, O, L, edge_dim=edge_dim, **kwargs)


def test_table_lists_the_five_models():
    assert MODELS == tuple(COMPLEXITY) == tuple(CLASSES)
    assert COMPLEXITY["WT-RevGNN"] == ("O(ND)", "O(D^2)")


@pytest.mark.parametrize(
    "width,conv,edge,aggr",
    [
        (8, "gen", None, "max"),
        (8, "gen", 16, "max"),
        (8, "gen", 8, "softmax"),
        (6, "gcn", None, "max"),
        (6, "sage", None, "max"),
    ],
)
def test_block_parameters(width, conv, edge, aggr):
    assert block_parameters(width, conv, edge, aggr) == count_parameters(
        GNNBlock(width, conv, edge_dim=edge, aggr=aggr)
    )


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(
    "L,D,C,edge_dim,conv",
    [
        (1, 16, 2, None, "gen"),
        (7, 24, 3, 5, "gen"),
        (3, 32, 4, 8, "gen"),
        (2, 12, 2, None, "gcn"),
        (4, 12, 3, None, "sage"),
    ],
)
def test_predicted_parameters_are_exact(name, L, D, C, edge_dim, conv):
    model = build(name, 10, D, 4, L, C, edge_dim, conv=conv)
    assert predict_parameters(
        name, 10, D, 4, L, num_groups=C, edge_dim=edge_dim, conv=conv
    ) == count_parameters(model)


def test_parameters_grow_with_depth_only_without_weight_tying():
    for name in MODELS:
        p = [predict_parameters(name, 16, 64, 8, L, edge_dim=8) for L in (1, 10, 100)]
        if name in ("ResGNN", "RevGNN"):  # O(L D^2)
            assert p[2] - p[1] == 10 * (p[1] - p[0])
        else:  # O(D^2)
            assert p[0] == p[1] == p[2]


def test_revgnn_deep_on_ogbn_proteins():
    """The paper's RevGNN-Deep: 1001 layers x 80 channels, 8 edge features, 112 tasks,
    plus the official recipe's Linear(8, 8) species encoder: 20,031,384 parameters."""
    assert predict_parameters("RevGNN", 16, 80, 112, 1001, edge_dim=8) + 8 * 8 + 8 == 20_031_384


@pytest.mark.parametrize("N,E,D,C,edge_dim", [(120, 600, 16, 2, 4), (200, 400, 24, 4, None)])
def test_predicted_memory_is_close_to_the_meter(N, E, D, C, edge_dim):
    graph = random_graph(N, E, 8, edge_dim=edge_dim, num_classes=3, seed=1)
    for name in MODELS:
        L = 12 if name == "DEQ-GNN" else 6
        torch.manual_seed(0)
        kwargs = {"solver_options": {"tol": 1e-30}} if name == "DEQ-GNN" else {}
        model = build(name, 8, D, 3, L, C, edge_dim, **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            measured = measure_activation_bytes(model, graph)
        predicted = predict_activation_bytes(
            name, N, E, D, L, 3, num_groups=C, edge_features=edge_dim is not None
        )
        assert abs(predicted / measured - 1) < 0.1, (name, predicted, measured)
        if name in ("ResGNN", "WT-ResGNN"):  # what the layers keep is an exact count
            assert abs(predicted / measured - 1) < 0.01, (name, predicted, measured)


@pytest.mark.parametrize("solver", ["anderson", "broyden", "fixed_point_iteration"])
@pytest.mark.parametrize("N,E,D,edge_dim", [(120, 600, 16, 4), (200, 400, 24, None)])
def test_predicted_deq_memory_follows_each_solvers_state(solver, N, E, D, edge_dim):
    """Graphs and widths the fit never saw; the solver state is derived from each
    solver's buffers, so the estimate holds before and after Anderson's window fills."""
    graph = random_graph(N, E, 8, edge_dim=edge_dim, num_classes=3, seed=1)
    for K in (2, 4, 12):
        torch.manual_seed(0)
        model = DEQGNN(8, D, 3, K, edge_dim=edge_dim, solver_options=dict(tol=1e-30, solver=solver))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            measured = measure_activation_bytes(model, graph)
        predicted = predict_activation_bytes(
            "DEQ-GNN", N, E, D, K, 3, edge_features=edge_dim is not None, solver=solver
        )
        assert abs(predicted / measured - 1) < 0.05, (K, predicted, measured)


def test_predicted_memory_has_the_shape_of_table_1():
    def mem(name, L, D=64, **kwargs):
        return predict_activation_bytes(name, 1000, 5000, D, L, 10, **kwargs)

    for name in MODELS:
        grows = mem(name, 100) / mem(name, 10)
        if name in ("ResGNN", "WT-ResGNN"):  # O(L N D)
            assert grows > 5
        else:  # O(N D): flat in depth (DEQ: once the solver's window is full)
            assert grows == 1
        assert 1.8 < mem(name, 20, D=128) / mem(name, 20, D=64) < 2.2  # linear in D
    # more groups: a narrower block is recomputed in backward
    assert mem("RevGNN", 10, num_groups=4) < mem("RevGNN", 10, num_groups=2)
    assert mem("DEQ-GNN", 3) < mem("DEQ-GNN", 30)  # Anderson's window fills up
    assert (
        mem("DEQ-GNN", 30, solver="fixed_point_iteration")
        < mem("DEQ-GNN", 30)
        < mem("DEQ-GNN", 30, solver="broyden")
    )


def test_activation_sweep_rows_and_masked_loss():
    graph = random_graph(50, 200, 8, edge_dim=4, num_classes=3, seed=0)
    rows = activation_sweep(lambda L: WTResGNN(8, 16, 3, L, edge_dim=4), [1, 3], graph)
    assert [r["depth"] for r in rows] == [1, 3]
    assert rows[0]["parameters"] == rows[1]["parameters"]
    assert rows[1]["peak_bytes"] > rows[0]["peak_bytes"]
    assert rows[0]["peak_mib"] == rows[0]["peak_bytes"] / 2**20
    model = WTResGNN(8, 16, 3, 1, edge_dim=4)
    masked = measure_activation_bytes(model, graph, mask=torch.arange(50) < 10)
    assert 0 < masked <= measure_activation_bytes(model, graph)
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize(
    "call,match",
    [
        (
            lambda: predict_parameters("GCN", 4, 8, 2, 3),
            r"model family must be one of 'ResGNN', .* \(any case, dashes optional\), "
            "got 'GCN'",
        ),
        (
            lambda: predict_parameters("RevGNN", 4, 9, 2, 3),
            "hidden_channels=9 must split into num_groups=2 equal groups",
        ),
        (lambda: predict_parameters("ResGNN", 4, 8, 2, 0), "num_layers must be a positive"),
        (
            lambda: predict_parameters("ResGNN", 4, 8, 2, 3, conv="gat"),
            r"conv must be one of 'gen', 'gcn', 'sage' \(the convs counted here\), "
            "got 'gat'",
        ),
        (
            lambda: predict_activation_bytes("DEQ-GNN", 10, 20, 8, 3, 2, solver="newton"),
            "solver must be one of",
        ),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
