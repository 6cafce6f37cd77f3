"""revgnn_edu.checks: one message per kind of mistake, the same wherever it is made."""

import numpy as np
import pytest
import torch

from revgnn_edu.checks import (
    check_edge_attr,
    check_features,
    edge_rows,
    group_width,
    int_in_range,
    model_sizes,
    number_in_range,
    one_of,
    positive_int,
    probability,
)
from revgnn_edu.complexity import predict_activation_bytes, predict_parameters
from revgnn_edu.data import RandomPartitionLoader, induced_subgraphs, multi_view_predict
from revgnn_edu.models import DEQGNN, PlainGNN, ResGNN, RevGNN, WTRevGNN, build_model


@pytest.mark.parametrize("value", [0, -2, 2.0, True, "3", None])
def test_positive_int_rejects(value):
    with pytest.raises(ValueError, match=rf"^n must be a positive integer, got {value!r}$"):
        positive_int("n", value)


def test_accepted_values_come_back_as_python_numbers():
    assert positive_int("n", np.int64(3)) == 3 and type(positive_int("n", np.int64(3))) is int
    assert int_in_range("k", 4, 1, 4) == 4
    assert probability("p", 0) == 0.0 and type(probability("p", np.float32(0.5))) is float
    assert one_of("mode", "a", ("a", "b")) == "a"
    assert number_in_range("r", np.float32(1), 0, 1) == 1.0
    assert type(number_in_range("r", 0, 0, 1)) is float
    assert model_sizes(1, 2, 3, 4) == (1, 2, 3, 4)
    assert group_width(12, 3) == 4


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: int_in_range("k", 5, 1, 4), r"k must be an integer in 1\.\.4, got 5"),
        (
            lambda: int_in_range("k", 1.5, 1, 4, "n"),
            r"k must be an integer in 1\.\.n=4, got 1.5",
        ),
        (lambda: probability("p", 1.0), r"p must be in \[0, 1\), got 1.0"),
        (lambda: probability("p", -0.1), r"p must be in \[0, 1\), got -0.1"),
        (lambda: one_of("mode", "c", ("a", "b")), r"mode must be one of 'a', 'b', got 'c'"),
        (lambda: number_in_range("r", 1.2, 0, 1), r"r must be a number in \[0, 1\], got 1.2"),
        (lambda: number_in_range("r", float("nan"), 0, 1), r"r must be a number in \[0, 1\]"),
        (lambda: number_in_range("r", True, 0, 1), r"r must be a number in \[0, 1\], got True"),
        (lambda: number_in_range("r", "0.5", 0, 1), r"got '0.5'"),
        (
            lambda: one_of("mode", "c", ["a"], " (any case)"),
            r"mode must be one of 'a' \(any case\), got 'c'",
        ),
        (
            lambda: model_sizes(1, 2, 0, 4),
            "out_channels must be a positive integer, got 0",
        ),
        (
            lambda: group_width(10, 3),
            r"hidden_channels=10 must split into num_groups=3 equal groups "
            r"\(num_groups >= 2 and 10 divisible by 3\)",
        ),
        (lambda: group_width(8, 1), "num_groups=1 equal groups"),
        (lambda: group_width(8, 0), "num_groups must be a positive integer, got 0"),
        (lambda: check_features(torch.zeros(3), 4), r"x must have shape \(N, 4\), got \(3,\)"),
        (
            lambda: check_features([1], 4, "data.x"),
            r"data.x must have shape \(N, 4\), got list",
        ),
        (
            lambda: edge_rows(torch.zeros(5, 2), torch.zeros(2, 6)),
            "^edge_attr has 5 rows but edge_index has 6 edges$",
        ),
        (
            lambda: check_edge_attr(torch.zeros(5, 2), torch.zeros(2, 6), 2, "M"),
            "^M: edge_attr has 5 rows but edge_index has 6 edges$",
        ),
        (
            lambda: check_edge_attr(torch.zeros(6, 3), torch.zeros(2, 6), 2, "M"),
            r"M: edge_attr must have shape \(num_edges, 2\), got \(6, 3\)",
        ),
        (
            lambda: check_edge_attr(torch.zeros(6, 2), torch.zeros(2, 6), None, "M"),
            "M takes no edge features",
        ),
        (
            lambda: check_edge_attr(None, torch.zeros(2, 6), 2, "M"),
            "M was built with edge_dim=2 but edge_attr is None",
        ),
    ],
)
def test_messages(call, message):
    with pytest.raises(ValueError, match=message):
        call()


GROUPS = r"hidden_channels=10 must split into num_groups=4 equal groups \(num_groups >= 2"


@pytest.mark.parametrize(
    "call",
    [
        lambda: RevGNN(4, 10, 2, 3, num_groups=4),
        lambda: WTRevGNN(4, 10, 2, 3, num_groups=4),
        lambda: predict_parameters("RevGNN", 4, 10, 2, 3, num_groups=4),
        lambda: predict_activation_bytes("WT-RevGNN", 50, 100, 10, 3, 2, num_groups=4),
    ],
)
def test_group_divisibility_is_one_message_everywhere(call):
    with pytest.raises(ValueError, match=GROUPS):
        call()


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: ResGNN(4, 8, 2, 0), "num_layers"),
        (lambda: PlainGNN(4, 8, 2, 0), "num_layers"),
        (lambda: DEQGNN(4, 8, 2, 0), "num_layers"),
        (lambda: build_model("revgnn-deep", num_layers=0), "num_layers"),
        (lambda: predict_parameters("ResGNN", 4, 8, 2, 0), "num_layers"),
        (lambda: build_model("revgnn-deep", hidden_channels=0), "hidden_channels"),
        (lambda: predict_parameters("DEQ-GNN", 4, 0, 2, 3), "hidden_channels"),
        (lambda: RevGNN(0, 8, 2, 3), "in_channels"),
        (lambda: build_model("revgnn-deep", num_tasks=0), "num_tasks"),
        (lambda: multi_view_predict(None, None, num_views=0), "num_views"),
        (lambda: RandomPartitionLoader(torch.zeros(2, 0), 0, 1), "num_nodes"),
    ],
)
def test_positive_sizes_are_one_message_everywhere(call, name):
    with pytest.raises(ValueError, match=f"^{name} must be a positive integer, got 0$"):
        call()


def test_edge_rows_are_one_message_everywhere(graph32):
    edge_index, short = graph32.edge_index, graph32.edge_attr[:-1]
    expected = "edge_attr has 119 rows but edge_index has 120 edges"
    with pytest.raises(ValueError, match=f"^ResGNN: {expected}$"):
        ResGNN(6, 8, 3, 1, edge_dim=4)(graph32.x, edge_index, short)
    with pytest.raises(ValueError, match=f"^{expected}$"):
        RandomPartitionLoader(edge_index, 30, 2, short)
    with pytest.raises(ValueError, match=f"^{expected}$"):
        induced_subgraphs(edge_index, torch.zeros(30, dtype=torch.long), edge_attr=short)
